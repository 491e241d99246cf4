"""A simulated PN532 NFC reader on a pseudo-terminal, with NTAG213 and Mifare Classic 1K tags.

Speaks the PN532 HSU frame protocol as the chip does, so an unmodified reader driver (nfcpy's
``pn532`` driver) initialises it and reads its tags. NDEF bytes are hand-assembled from the NFC
Forum specifications (:mod:`fwsim.pn532.ndef`), independently of any decoder.
"""

from fwsim.pn532.chip import FIRMWARE_VERSION, Pn532Chip
from fwsim.pn532.emulator import Pn532Simulator
from fwsim.pn532.frames import ACK, ERROR_FRAME, NACK, FrameParser, HostFrame, build_frame
from fwsim.pn532.ndef import ndef_message, ndef_tlv, text_record, uri_record
from fwsim.pn532.tags import MifareClassic1k, Ntag213, SimTag, crc_a

__all__ = [
    "ACK",
    "ERROR_FRAME",
    "FIRMWARE_VERSION",
    "NACK",
    "FrameParser",
    "HostFrame",
    "MifareClassic1k",
    "Ntag213",
    "Pn532Chip",
    "Pn532Simulator",
    "SimTag",
    "build_frame",
    "crc_a",
    "ndef_message",
    "ndef_tlv",
    "text_record",
    "uri_record",
]
