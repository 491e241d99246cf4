"""Offline patrol wands (巡更棒): importing a downloaded batch of scans.

A wand stores ``(wand id, tag id, wand-clock time)`` for every checkpoint it touches and is
downloaded later, in a batch. Its clock drifts, so the import corrects every time by the skew
measured at download: ``skew = gateway clock - wand clock`` (both read at the download), and
``corrected = wand time + skew``. Pure: the caller reads both clocks and hands them in.

Duplicates are dropped: within a batch, and across downloads, by a stable key built from the wand,
the tag and the **uncorrected** wand-clock time (a wand downloaded twice reports the same record
with the same wand time, while the skew, hence the corrected time, may differ). The caller passes
the keys it already stored (``known_keys``) and stores the returned ones with the scans.

The batch file format (CSV, UTF-8)::

    wand_id,tag_id,time
    wand-01,04A2241A6B1C80,2026-03-02T21:05:33
    wand-01,0100ABCDEF,2026-03-02 21:11:02

* the first non-blank line is the header, exactly these three names in this order (case and
  surrounding spaces ignored); blank lines and lines starting with ``#`` are skipped;
* ``tag_id``: as the site file writes tags (hex UID with or without ``:``/space separators, the
  EM4100 10-hex-digit id, or Wiegand ``facility:card``), normalised like the site file does; or
  as the wand reads 125 kHz tags: the low 32 bits of the EM4100 id as 10 decimal digits, the
  low 24 as ``facility:card`` (or 8 digits, ``3+5``, for a wand set to ``wiegand26``). The form
  is the wand's ``variant`` in the site file, or recognised from the id's shape
  (``gateway.site.tag_forms.wand_read``); a scan read in a short form has the ``source_format``
  ``wand:<form>`` (``wand:decimal``, ``wand:wiegand26``) and is matched as a reader's of that
  form is (``gateway.db.tag_aliases``: a read that may name two tags names none), any other
  ``wand``;
* ``time``: ISO 8601 date-time as the wand's clock shows it; without an offset it is read in the
  wand's time zone (the ``timezone`` given to the import, from the device's configuration).

A bad line is reported with its line number and skipped; the good lines are kept.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.errors import DecodeError
from gateway.records import CheckpointScan, TagTechnology
from gateway.site.schema import normalise_tag_id
from gateway.site.tag_forms import wand_read

__all__ = [
    "CSV_HEADER",
    "SOURCE_FORMAT",
    "WandImport",
    "WandRecord",
    "import_wand_batch",
    "is_wand_log",
    "parse_wand_csv",
    "wand_record_key",
]

logger = logging.getLogger(__name__)

CSV_HEADER = ("wand_id", "tag_id", "time")
SOURCE_FORMAT = "wand"


def is_wand_log(source_format: str) -> bool:
    """Whether a scan with this ``source_format`` came from a wand's download (in any form)."""
    return source_format == SOURCE_FORMAT or source_format.startswith(f"{SOURCE_FORMAT}:")


@dataclass(frozen=True, slots=True)
class WandRecord:
    """One stored scan as the wand reports it; ``wand_time`` is naive when the wand gave no
    offset (read in the wand's time zone at import). ``line`` is the CSV line, for messages."""

    wand_id: str
    tag_id: str
    wand_time: datetime
    line: int = 0


@dataclass(frozen=True, slots=True)
class WandImport:
    """The result of an import: new scans (corrected times) with their dedupe keys, in time
    order; how many duplicates were dropped; the skew applied; records refused, with reasons."""

    scans: tuple[CheckpointScan, ...]
    keys: tuple[str, ...]
    duplicates: int
    skew_s: float
    rejected: tuple[str, ...] = ()


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def wand_record_key(record: WandRecord, tz: ZoneInfo) -> str:
    """The stable identity of a wand record: wand, tag and the uncorrected wand time (UTC)."""
    wand_utc = _aware(record.wand_time, tz).astimezone(UTC)
    return f"wand|{record.wand_id}|{record.tag_id}|{wand_utc.isoformat()}"


def _technology(tag_id: str) -> TagTechnology:
    if ":" in tag_id:
        return TagTechnology.WIEGAND
    if len(tag_id) == 10:
        return TagTechnology.EM4100
    return TagTechnology.OTHER


def parse_wand_csv(text: str) -> tuple[list[WandRecord], list[str]]:
    """Parse a batch file (format in the module docstring): the records and per-line problems.

    Raises ``DecodeError`` when the file has no header or a wrong one (nothing can be read).
    """
    records: list[WandRecord] = []
    problems: list[str] = []
    header_seen = False
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        cells = [cell.strip() for cell in row]
        if not header_seen:
            if tuple(c.lower() for c in cells) != CSV_HEADER:
                raise DecodeError(
                    f"line {number}: header must be {','.join(CSV_HEADER)}, not {','.join(cells)}",
                    text.encode("utf-8", "replace")[:200],
                )
            header_seen = True
            continue
        if len(cells) != len(CSV_HEADER):
            problems.append(
                f"line {number}: expected 3 fields (wand_id,tag_id,time), got {len(cells)}"
            )
            continue
        wand_id, tag_text, time_text = cells
        if not wand_id:
            problems.append(f"line {number}: empty wand_id")
            continue
        try:
            tag_id = normalise_tag_id(tag_text)
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        try:
            wand_time = datetime.fromisoformat(time_text)
        except ValueError:
            problems.append(f"line {number}: time {time_text!r} is not an ISO 8601 date-time")
            continue
        records.append(WandRecord(wand_id, tag_id, wand_time, number))
    if not header_seen:
        raise DecodeError("no header line: a wand batch starts with wand_id,tag_id,time")
    return records, problems


def import_wand_batch(
    records: Iterable[WandRecord],
    *,
    wand_id: str,
    wand_clock_at_download: datetime,
    gateway_clock_at_download: datetime,
    timezone: str = "Asia/Shanghai",
    known_keys: Collection[str] = (),
    variant: str | None = None,
) -> WandImport:
    """Turn one wand's downloaded records into ``CheckpointScan`` records (module docstring).

    ``wand_clock_at_download`` is what the wand's clock showed at the download (naive: in
    ``timezone``), ``gateway_clock_at_download`` the injected clock's reading then; the latter is
    also every scan's ``received_at``. Records of another wand are refused. ``known_keys`` are keys
    stored by earlier downloads; records with those keys, or repeated in the batch, are dropped.
    ``variant`` is the wand's in the site file: the form of its ids (module docstring); a scan
    keeps the id as the wand sent it, as a reader of that form sends it.
    """
    tz = ZoneInfo(timezone)
    gateway_now = gateway_clock_at_download.astimezone(UTC)
    skew = gateway_now - _aware(wand_clock_at_download, tz).astimezone(UTC)
    seen = set(known_keys)
    fresh: list[tuple[datetime, str, CheckpointScan]] = []
    rejected: list[str] = []
    duplicates = 0
    for record in records:
        if record.wand_id != wand_id:
            rejected.append(
                f"line {record.line}: record of wand {record.wand_id!r} "
                f"in a download of {wand_id!r}"
            )
            continue
        key = wand_record_key(record, tz)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        wand_utc = _aware(record.wand_time, tz).astimezone(UTC)
        corrected = wand_utc + skew
        form, tag_id = wand_read(record.tag_id, variant)
        scan = CheckpointScan(
            reader_id=record.wand_id,
            tag_id=tag_id,
            scanned_at=corrected,
            received_at=gateway_now,
            technology=_technology(tag_id),
            source_format=SOURCE_FORMAT if form is None else f"{SOURCE_FORMAT}:{form.value}",
            raw=f"{record.wand_id},{record.tag_id},{record.wand_time.isoformat()}",
        )
        fresh.append((corrected, key, scan))
    fresh.sort(key=lambda item: (item[0], item[1]))
    if duplicates:
        logger.info("wand %s: %d duplicate records dropped", wand_id, duplicates)
    return WandImport(
        scans=tuple(s for _, _, s in fresh),
        keys=tuple(k for _, k, _ in fresh),
        duplicates=duplicates,
        skew_s=skew / timedelta(seconds=1),
        rejected=tuple(rejected),
    )
