"""SQLite's WAL checkpoints on a thread of their own, not in the pipeline's commits.

In WAL mode SQLite appends every commit to the ``-wal`` file, and the commit that takes the file
past ``wal_autocheckpoint`` pages copies it back into the database and syncs it, inside that
commit. In the gateway that commit is the pipeline's: profiled over the flood (1,000 terminals,
SQLite, no broker), checkpoints took about a seventh of the pipeline thread's time, stopping
fixes, rules and deadlines meanwhile.

``WalCheckpointer`` runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``every_s`` on a connection
of its own. A passive checkpoint waits for no one: it copies what no reader still needs while
the pipeline goes on committing, and it runs in SQLite's C code with the interpreter's lock
released, so on a machine with a second core it costs the pipeline nothing. The engine's
connections keep an automatic checkpoint at ``BACKSTOP_PAGES`` (``gateway.db.engine``), far
beyond what a second's commits write, so the WAL stays bounded if this thread falls behind or is
not running (a command, a test): SQLite's own rule then applies, only later.

Durability is unchanged: ``synchronous=NORMAL`` makes a commit durable when its WAL frames are
written, before any checkpoint.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from gateway.periodic import Periodic

__all__ = ["BACKSTOP_PAGES", "CHECKPOINT_EVERY_S", "WalCheckpointer"]

logger = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 1.0
"""Pacing of the checkpoints (wall time): a second of the flood's commits is a few MB of WAL."""
BACKSTOP_PAGES = 10_000
"""The engine's ``wal_autocheckpoint`` (40 MB of 4-kB pages; SQLite's default is 1,000)."""


class WalCheckpointer:
    """A ``wal-checkpoint`` thread for an SQLite ``engine``; does nothing on another database.

    ``checkpoints`` counts the checkpoints run and ``last`` holds SQLite's answer to the latest
    (busy, frames in the WAL, frames checkpointed). A failing checkpoint (the database locked
    past the busy timeout, the disk full) is logged and tried again at the next turn.
    """

    def __init__(self, engine: Engine, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self._engine = engine
        self._periodic = Periodic("wal-checkpoint", every_s, self.checkpoint)
        self.checkpoints = 0
        self.last: tuple[int, int, int] | None = None

    @property
    def applies(self) -> bool:
        """Whether the engine is an SQLite database in a file (WAL needs one)."""
        database = self._engine.url.database
        return self._engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")

    def checkpoint(self) -> tuple[int, int, int] | None:
        """Run one passive checkpoint now; SQLite's (busy, log, checkpointed), or ``None`` when
        it failed (logged)."""
        try:
            with self._engine.connect() as connection:
                row = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        except Exception as exc:  # the next turn tries again; the backstop bounds the WAL
            logger.warning("WAL checkpoint failed: %s", exc)
            return None
        self.checkpoints += 1
        self.last = (int(row[0]), int(row[1]), int(row[2]))
        return self.last

    def start(self) -> None:
        """Start checkpointing every ``every_s`` (not for a database other than an SQLite
        file)."""
        if self.applies:
            self._periodic.start()

    def stop(self) -> None:
        """Stop the thread (it ends within one checkpoint)."""
        self._periodic.stop()
