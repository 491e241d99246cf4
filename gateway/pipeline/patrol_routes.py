"""The checkpoints and routes the patrol stage works with, as the last site load left them.

Read from the database at start-up and after every site load (``PatrolRoutes.read``): every
checkpoint tag as written, with its checkpoint and post, and each EM4100 tag's short forms
(what a scan is resolved with, ``place``), and the routes of every post as the patrol rules
plan them. Between two reads it
remembers what a load changed for the machines under way: the routes to plan again
(``take_replan``) and those taken off whose machines may still wait for a wand's download
(``gone``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from gateway.db import patrol_repository as prepo
from gateway.pipeline.duty import DutyIndex
from gateway.pipeline.journal import Journal
from gateway.pipeline.scan_attribution import Reductions, ShortRead, checkpoint_of, short_read
from gateway.records import CheckpointScan
from gateway.rules.patrol_plan import RoutePlan
from gateway.site.tag_forms import ReadForm, reduced_ids

__all__ = ["PatrolRoutes", "RouteKey"]

RouteKey = tuple[str, str]
"""``(post id, route id)``."""


class PatrolRoutes:
    """Checkpoints and routes of every site (module docstring). Used by the pipeline's owner
    thread only."""

    def __init__(self) -> None:
        self.tags: dict[str, tuple[str, str]] = {}
        """Every checkpoint tag as written → ``(checkpoint id, post id)``."""
        self.reductions: Reductions = {}
        """Each short form of every checkpoint tag (``scan_attribution.Reductions``)."""
        self.plans: dict[RouteKey, RoutePlan] = {}
        """Every route's plan by ``(post, route)``."""
        self.gone: set[RouteKey] = set()
        """``(post, route)`` taken off the site whose machines may still wait for a wand's
        download: its scans still reach them (``PatrolStage.apply_scan``)."""
        self._routes: dict[str, list[RoutePlan]] = {}
        self._replan: set[RouteKey] = set()
        """``(post, route)`` whose plan changed (or went) since the machines were planned."""

    def read(self, session: Session) -> None:
        """Read the checkpoints and routes as they are now, noting the routes that changed."""
        self.tags, self._routes = prepo.checkpoint_index(session)
        reductions: dict[tuple[ReadForm, str], set[tuple[str, str]]] = defaultdict(set)
        for tag, place in self.tags.items():
            for form, read in reduced_ids(tag).items():
                reductions[form, read].add(place)
        self.reductions = {key: frozenset(places) for key, places in reductions.items()}
        plans = {(post, p.route_id): p for post, ps in self._routes.items() for p in ps}
        # A route a site load changed is planned again for the shifts under way (``replan``);
        # at start-up every route is checked (it may have changed while the gateway was
        # down); an unchanged one leaves its machines as they are.
        self._replan |= {
            k for k in plans.keys() | self.plans.keys() if plans.get(k) != self.plans.get(k)
        }
        self.gone = {k for k in self.gone | self.plans.keys() if k not in plans}
        self.plans = plans

    def held(self, keys: Iterable[RouteKey]) -> None:
        """At start-up, after ``read``: the routes of the machines read back. One taken off
        while the gateway was down is gone, and its machines end as at a relief."""
        gone = set(keys) - self.plans.keys()
        self.gone = gone
        self._replan |= gone

    def of_post(self, post_id: str) -> Sequence[RoutePlan]:
        """The routes of ``post_id``, in id order."""
        return self._routes.get(post_id, ())

    def take_replan(self, journal: Journal) -> set[RouteKey]:
        """The routes to plan again, forgotten here; a failed transaction gives them back."""
        keys, self._replan = self._replan, set()
        if keys:
            journal.record(lambda: self._replan.update(keys))
        return keys

    def place(
        self, session: Session, duties: DutyIndex, scan: CheckpointScan
    ) -> tuple[str, str] | None:
        """``(checkpoint id, post id)`` of the tag ``scan`` read; ``None``: no checkpoint's
        (``gateway.pipeline.scan_attribution.checkpoint_of``)."""
        return checkpoint_of(session, duties, self.tags, scan, self.reductions)

    def short_read(
        self, session: Session, duties: DutyIndex, scan: CheckpointScan
    ) -> ShortRead | None:
        """What ``scan`` may name when read in a short form (``scan_attribution.short_read``)."""
        return short_read(session, duties, scan, self.reductions)
