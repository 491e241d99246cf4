"""NFC patrol checkpoint readers (PN532 and other nfcpy-supported readers) through nfcpy.

nfcpy does the reader protocol and the tag commands; this package opens readers by path, runs
nfcpy in its own thread, and turns activated tags into ``CheckpointScan`` records.
"""

from drivers.nfc.frontend import ReaderPath, open_frontend, parse_reader_path
from drivers.nfc.reader import NfcCheckpointReader, NfcReaderStats
from drivers.nfc.tagread import TagReading, read_tag, technology_of

__all__ = [
    "NfcCheckpointReader",
    "NfcReaderStats",
    "ReaderPath",
    "TagReading",
    "open_frontend",
    "parse_reader_path",
    "read_tag",
    "technology_of",
]
