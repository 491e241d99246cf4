"""The stages a position goes through before the rules: identity, filters, geofence, history.

Each narrows or annotates the batch's fixes in the context and counts what it drops (the
``dropped.<reason>`` counters of ``/health``); none writes events. They keep the batch's
device-time order, which the filters' per-device memory and the rules rely on.
"""

from __future__ import annotations

from gateway.db.positions import insert_positions, position_values
from gateway.filters import FixFilter
from gateway.pipeline.context import BatchContext, OnDutyFix, PlacedFix
from gateway.pipeline.memory import LastFix, PipelineMemory
from gateway.policy import SitePolicy
from geofence import classify

__all__ = ["Filters", "Geofence", "History", "Identity"]


class Identity:
    """Device → the guard wearing it → his shift at the fix's time; others are dropped.

    A fix outside every shift of its guard counts as ``dropped.off_duty`` (no location is kept
    off duty), one from a device the site file does not know as ``dropped.unknown_device``.
    """

    def __init__(self, memory: PipelineMemory) -> None:
        self._memory = memory

    def run(self, ctx: BatchContext) -> None:
        duties = self._memory.duties
        for fix in ctx.fixes:
            duty = duties.duty_for_device(fix.device_id, fix.fix_time)
            if duty is None:
                known = duties.knows_device(fix.device_id)
                ctx.counters.add("dropped.off_duty" if known else "dropped.unknown_device")
                continue
            ctx.on_duty.append(OnDutyFix(fix, duty))


class Filters:
    """Drops invalid, stale, future, inaccurate, duplicate and jumping fixes (``FixFilter``),
    with the limits of each device's site, judged at the batch's ``now``."""

    def __init__(self, memory: PipelineMemory) -> None:
        self._memory = memory
        # The filter's memory of accepted fixes outlives batches (duplicates and jumps span
        # them); its limits are looked up per fix, so a reloaded site policy applies at once.
        self._filter = FixFilter(self._policy_for_device, journal=memory.journal)

    def _policy_for_device(self, device_id: str) -> SitePolicy:
        return self._memory.duties.policy_for_device(device_id)

    def run(self, ctx: BatchContext) -> None:
        kept: list[OnDutyFix] = []
        for item in ctx.on_duty:
            reason = self._filter.check(item.fix, ctx.now)
            if reason is not None:
                ctx.counters.add(f"dropped.{reason.value}")
                ctx.filtered.append((item.fix, reason.value))
                continue
            kept.append(item)
        ctx.on_duty = kept


class Geofence:
    """Places every kept fix against its duty's post fence (inside, outside, uncertain, and
    the distance), allowing for the fix's accuracy and the site's boundary margin."""

    def run(self, ctx: BatchContext) -> None:
        for item in ctx.on_duty:
            fix, duty = item.fix, item.duty
            verdict = classify(
                duty.fence, fix.lon, fix.lat, fix.accuracy_m, duty.policy.boundary_margin_m
            )
            ctx.placed.append(PlacedFix(fix, duty, verdict))


class History:
    """Stores the placed fixes as the guard's track (one statement) and remembers each
    guard's newest one for the live view. Late fixes are stored too; they only replace the
    newest when they are newer.

    The store is the last word on duplicates: a fix whose (device, fix time) is already stored
    (the filters' memory is per process, lost on a restart, and bounded) is not stored again,
    counted as ``dropped.duplicate_stored`` and taken out of ``ctx.placed``: the rules saw it
    in the transaction that stored it, so they must not see it twice. ``fixes.stored`` counts
    only new rows, so ``fixes.received`` = ``fixes.stored`` + every ``dropped.*``.
    """

    def __init__(self, memory: PipelineMemory) -> None:
        self._memory = memory

    def run(self, ctx: BatchContext) -> None:
        if not ctx.placed:
            return
        positions = [
            position_values(
                placed.fix,
                guard_id=placed.duty.guard_id,
                shift_id=placed.duty.shift_id,
                membership=placed.verdict.membership.value,
                distance_m=round(placed.verdict.distance_m, 2),
            )
            for placed in ctx.placed
        ]
        new = insert_positions(ctx.session, positions)
        stored = len(positions)
        if not all(new):
            ctx.placed = [placed for placed, is_new in zip(ctx.placed, new, strict=True) if is_new]
            stored = len(ctx.placed)
            ctx.counters.add("dropped.duplicate_stored", len(positions) - stored)
        ctx.counters.add("fixes.stored", stored)
        last_fix = self._memory.last_fix
        for placed in ctx.placed:
            fix, duty, verdict = placed.fix, placed.duty, placed.verdict
            previous = last_fix.get(duty.guard_id)
            if previous is None or previous.fix_time <= fix.fix_time:
                # The distance as stored, so the one a restart reads back is the same.
                last_fix[duty.guard_id] = LastFix.of(
                    fix, duty.shift_id, verdict.membership.value, round(verdict.distance_m, 2)
                )
