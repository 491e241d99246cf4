"""What a checkpoint scan takes from a tag nfcpy has activated.

The UID comes from anticollision (``tag.identifier``), the technology from the SAK
(``SEL_RES``): bit 3 set means a Mifare Classic (SAK 08 for 1K, 18 for 4K, 09 for Mini, 88 for
Infineon 1K), which is identified by UID only because its memory needs Crypto-1 keys. Type 2
tags (NTAG21x, Ultralight) are read for NDEF; the first Text or URI record gives ``ndef_text``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gateway.records import TagTechnology

__all__ = ["TagReading", "read_tag"]

log = logging.getLogger(__name__)

_SAK_MIFARE_CLASSIC = 0x08
_SAK_ISO14443_4 = 0x20


@dataclass(frozen=True, slots=True)
class TagReading:
    """The tag's identity (upper-case hex UID), kind, first text/URI, and the evidence.

    ``raw`` is lower-case hex of SENS_RES, SEL_RES and the UID, then ``:`` and the NDEF message
    octets when they were read. ``ndef_error`` says why NDEF could not be read, if it could not.
    """

    tag_id: str
    technology: TagTechnology
    ndef_text: str | None
    raw: str
    ndef_error: str | None = None


def technology_of(tag: Any) -> TagTechnology:
    """Classify an activated nfcpy tag."""
    target = tag.target
    sel_res = bytes(getattr(target, "sel_res", None) or b"")
    if sel_res:
        sak = sel_res[0]
        if sak & _SAK_MIFARE_CLASSIC and not sak & _SAK_ISO14443_4:
            return TagTechnology.MIFARE_CLASSIC
    if getattr(tag, "TYPE", None) == "Type2Tag":
        return TagTechnology.NFC_TYPE2
    return TagTechnology.OTHER


def _first_text(records: Any) -> str | None:
    for record in records:
        text = getattr(record, "text", None)
        if isinstance(text, str) and getattr(record, "type", "") == "urn:nfc:wkt:T":
            return text
        iri = getattr(record, "iri", None)
        if isinstance(iri, str) and getattr(record, "type", "") == "urn:nfc:wkt:U":
            return iri
    return None


def read_tag(tag: Any) -> TagReading:
    """Read identity and, for Type 2 tags, NDEF.

    NDEF failures that leave the reader usable (tag moved away, malformed message) are reported
    in ``ndef_error``; an ``OSError`` (the reader itself failed) propagates after nothing else
    was lost: the caller still has the UID through :func:`identity_of`.
    """
    tag_id, technology, evidence = identity_of(tag)
    if technology is not TagTechnology.NFC_TYPE2:
        return TagReading(tag_id, technology, None, evidence)
    try:
        ndef = tag.ndef
        if ndef is None:
            return TagReading(tag_id, technology, None, evidence)
        octets = bytes(ndef.octets)
        text = _first_text(ndef.records)
    except OSError:
        raise
    except Exception as error:  # nfcpy raises tag-command and ndeflib decode errors here
        log.info("tag %s: NDEF not read: %r", tag_id, error)
        return TagReading(tag_id, technology, None, evidence, ndef_error=repr(error))
    return TagReading(tag_id, technology, text, f"{evidence}:{octets.hex()}")


def identity_of(tag: Any) -> tuple[str, TagTechnology, str]:
    """(upper-case hex UID, technology, lower-case hex of SENS_RES ‖ SEL_RES ‖ UID)."""
    uid = bytes(tag.identifier)
    target = tag.target
    sens_res = bytes(getattr(target, "sens_res", None) or b"")
    sel_res = bytes(getattr(target, "sel_res", None) or b"")
    return uid.hex().upper(), technology_of(tag), (sens_res + sel_res + uid).hex()
