"""125 kHz EM4100 readers on serial lines: RDM6300 frames, decimal lines, Wiegand-to-serial text."""

from drivers.em4100.codec import (
    FrameRejected,
    RejectReason,
    TagRead,
    Variant,
    em4100_decimal_id,
    em4100_wiegand26_id,
    make_framer,
)
from drivers.em4100.debounce import Debouncer
from drivers.em4100.driver import Em4100Reader, Em4100Stats

__all__ = [
    "Debouncer",
    "Em4100Reader",
    "Em4100Stats",
    "FrameRejected",
    "RejectReason",
    "TagRead",
    "Variant",
    "em4100_decimal_id",
    "em4100_wiegand26_id",
    "make_framer",
]
