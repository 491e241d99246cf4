"""NDEF message bytes assembled by hand from the NFC Forum specifications.

Written from the NFC Forum NDEF 1.0 (record header: MB, ME, CF, SR, IL, TNF), Text RTD 1.0
(status byte: bit 7 UTF-16 flag, bits 5..0 language code length) and URI RTD 1.0 (identifier
code table) specifications, without any NDEF library, so that a reader's decoder is checked
against an independent encoder. Only short records (payload <= 255 bytes) of the NFC Forum
well-known type (TNF 1) are made; that is what patrol checkpoint stickers carry.
"""

from __future__ import annotations

__all__ = ["URI_PREFIXES", "ndef_message", "ndef_tlv", "text_record", "uri_record"]

# URI RTD 1.0, section 3.2.2: identifier codes 0x01..0x23 (0x00 = no abbreviation).
URI_PREFIXES: tuple[str, ...] = (
    "",
    "http://www.",
    "https://www.",
    "http://",
    "https://",
    "tel:",
    "mailto:",
    "ftp://anonymous:anonymous@",
    "ftp://ftp.",
    "ftps://",
    "sftp://",
    "smb://",
    "nfs://",
    "ftp://",
    "dav://",
    "news:",
    "telnet://",
    "imap:",
    "rtsp://",
    "urn:",
    "pop:",
    "sip:",
    "sips:",
    "tftp:",
    "btspp://",
    "btl2cap://",
    "btgoep://",
    "tcpobex://",
    "irdaobex://",
    "file://",
    "urn:epc:id:",
    "urn:epc:tag:",
    "urn:epc:pat:",
    "urn:epc:raw:",
    "urn:epc:",
    "urn:nfc:",
)

_TNF_WELL_KNOWN = 0x01
_SR = 0x10
_ME = 0x40
_MB = 0x80


def text_record(text: str, language: str = "en") -> tuple[bytes, bytes]:
    """The (type, payload) of a Text record, UTF-8 encoded."""
    lang = language.encode("ascii")
    if len(lang) > 0x3F:
        raise ValueError("language code too long")
    return b"T", bytes([len(lang)]) + lang + text.encode("utf-8")


def uri_record(uri: str) -> tuple[bytes, bytes]:
    """The (type, payload) of a URI record, abbreviated with the longest matching prefix code."""
    best = 0
    for code, prefix in enumerate(URI_PREFIXES):
        if prefix and uri.startswith(prefix) and len(prefix) > len(URI_PREFIXES[best]):
            best = code
    return b"U", bytes([best]) + uri[len(URI_PREFIXES[best]) :].encode("utf-8")


def ndef_message(*records: tuple[bytes, bytes]) -> bytes:
    """Concatenate well-known short records, setting MB on the first and ME on the last."""
    if not records:
        raise ValueError("an NDEF message has at least one record")
    out = bytearray()
    for index, (rtype, payload) in enumerate(records):
        if len(payload) > 0xFF or len(rtype) > 0xFF:
            raise ValueError("only short records are supported")
        header = _TNF_WELL_KNOWN | _SR
        if index == 0:
            header |= _MB
        if index == len(records) - 1:
            header |= _ME
        out += bytes([header, len(rtype), len(payload)]) + rtype + payload
    return bytes(out)


def ndef_tlv(message: bytes) -> bytes:
    """The NDEF Message TLV (type 03) followed by the Terminator TLV (FE), Type 2 Tag layout."""
    if len(message) < 0xFF:
        length = bytes([len(message)])
    else:
        length = b"\xff" + len(message).to_bytes(2, "big")
    return b"\x03" + length + message + b"\xfe"
