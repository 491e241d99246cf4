"""Running a scenario's ``run()`` on a background thread, with its error kept for the caller."""

from __future__ import annotations

import logging
import threading

__all__ = ["BackgroundRun"]

log = logging.getLogger(__name__)


class BackgroundRun:
    """Mixin for runners: ``start_background`` runs ``self.run()`` on a daemon thread; an
    exception ends the run and is kept in ``error`` (a background thread must not die silently);
    ``wait`` joins it."""

    _thread: threading.Thread | None = None
    error: BaseException | None = None
    """Set when a background run ended on an exception."""

    def run(self) -> None:  # pragma: no cover - every runner defines it
        raise NotImplementedError

    def start_background(self, name: str) -> None:
        """Start ``run()`` on a daemon thread called ``name``."""
        self.error = None
        self._thread = threading.Thread(target=self._run_logged, name=name, daemon=True)
        self._thread.start()

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception as exc:
            self.error = exc
            log.exception("%s stopped on an error", type(self).__name__)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the background run to finish; True when it has (or none was started)."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def join_background(self, timeout_s: float | None = None) -> None:
        """Join the background thread (after asking ``run`` to stop) and forget it."""
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
