"""What one binary-protocol client counts (``ZkTcpClient.stats``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ZkClientStats"]


@dataclass(frozen=True, slots=True)
class ZkClientStats:
    """Counters of one client: ``connects`` successful sessions, ``log_records`` records read
    from the log, ``events`` live records, ``punches`` emitted, ``duplicates`` skipped,
    ``rejects`` refused records and unreadable packets, ``failures`` broken sessions,
    ``unmapped`` records of the number form whose internal user number is not in the user table
    (emitted as ``uid:<number>``); ``held`` (not a counter) records of the number form waiting
    now for a user table the terminal refused."""

    connected: bool
    connects: int
    log_records: int
    events: int
    punches: int
    duplicates: int
    rejects: int
    failures: int
    unmapped: int
    held: int = 0
