"""Whether a well-shaped site file fits together: references, ids, fences, times, shift overlaps.

Every check collects problems instead of stopping at the first, so the author fixes the file in
one pass. Each problem names its place in the file, e.g.
``sites[0].posts[2] (id 'gate-east'): fence polygon self-intersects near (114.30521, 30.59311)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.policy import SitePolicy
from gateway.rules.patrol_plan import time_of_day
from gateway.rules.patrol_policy import PATROL_POLICY_FIELDS
from gateway.site.fences import fence_problems
from gateway.site.robots import robot_problems
from gateway.site.roster import ShiftInstance, expand_entry, expansion_days
from gateway.site.schema import ShiftEntry, SiteEntry, SiteFile
from gateway.site.tag_forms import WAND_VARIANTS

__all__ = ["CheckedSite", "check_site_file", "place"]

POLICY_FIELDS = frozenset(f.name for f in fields(SitePolicy)) | PATROL_POLICY_FIELDS


@dataclass(slots=True)
class CheckedSite:
    """A site that passed (or is being put through) the checks, with its expanded shifts."""

    entry: SiteEntry
    index: int
    shifts: list[ShiftInstance] = field(default_factory=list)


def place(site: int, part: str | None = None, index: int | None = None, ident: str = "") -> str:
    """``sites[0]``, ``sites[0].posts[2] (id 'gate-east')``: where in the file a problem is."""
    where = f"sites[{site}]"
    if part is not None:
        where += f".{part}[{index}]"
    return f"{where} ({ident})" if ident else where


def check_site_file(doc: SiteFile, now: datetime) -> tuple[list[CheckedSite], list[str]]:
    """Check ``doc`` as a whole; return the sites with their shifts expanded, and the problems.

    Roster lines are expanded for the local days around ``now`` (see ``gateway.site.roster``).
    """
    problems: list[str] = []
    problems += _duplicates(doc)
    checked: list[CheckedSite] = []
    for i, site in enumerate(doc.sites):
        result = CheckedSite(site, i)
        problems += _check_site(result, now)
        checked.append(result)
    return checked, problems


def _duplicates(doc: SiteFile) -> list[str]:
    problems: list[str] = []
    sites_seen: dict[str, str] = {}
    for i, site in enumerate(doc.sites):
        where = place(i, ident=f"id {site.id!r}")
        if site.id in sites_seen:
            problems.append(f"{where}: duplicate site id (first at {sites_seen[site.id]})")
        sites_seen.setdefault(site.id, where)
    for part, noun in (
        ("posts", "post"),
        ("guards", "guard"),
        ("leaders", "leader"),
        ("devices", "device"),
        ("checkpoints", "checkpoint"),
        ("routes", "route"),
        ("robots", "robot"),
    ):
        seen: dict[str, str] = {}
        for i, site in enumerate(doc.sites):
            for j, item in enumerate(getattr(site, part)):
                where = place(i, part, j, f"id {item.id!r}")
                if item.id in seen:
                    problems.append(f"{where}: duplicate {noun} id (first at {seen[item.id]})")
                seen.setdefault(item.id, where)
    problems += _duplicate_tags_and_serials(doc)
    return problems


def _duplicate_tags_and_serials(doc: SiteFile) -> list[str]:
    """A tag names one checkpoint and a serial number one terminal, across the whole file."""
    problems: list[str] = []
    tags: dict[str, str] = {}
    serials: dict[str, str] = {}
    for i, site in enumerate(doc.sites):
        for j, cp in enumerate(site.checkpoints):
            where = place(i, "checkpoints", j, f"id {cp.id!r}")
            for tag in cp.tags:
                if tag in tags:
                    problems.append(f"{where}: tag {tag!r} is used twice (first at {tags[tag]})")
                tags.setdefault(tag, where)
        for j, device in enumerate(site.devices):
            if device.sn is None:
                continue
            where = place(i, "devices", j, f"id {device.id!r}")
            if device.sn in serials:
                problems.append(
                    f"{where}: serial number {device.sn!r} is used twice "
                    f"(first at {serials[device.sn]})"
                )
            serials.setdefault(device.sn, where)
    return problems


def _check_site(checked: CheckedSite, now: datetime) -> list[str]:
    site, i = checked.entry, checked.index
    here = place(i, ident=f"id {site.id!r}")
    problems: list[str] = []
    tz: ZoneInfo | None
    try:
        tz = ZoneInfo(site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = None
        problems.append(f"{here}.timezone: unknown time zone {site.timezone!r}")
    for name, value in site.policy.items():
        if name not in POLICY_FIELDS:
            problems.append(
                f"{here}.policy.{name}: unknown policy field "
                f"(known: {', '.join(sorted(POLICY_FIELDS))})"
            )
        elif not math.isfinite(value) or value < 0:
            problems.append(f"{here}.policy.{name}: must be a number >= 0, not {value}")

    for j, post in enumerate(site.posts):
        for problem in fence_problems(post.fence, post.datum):
            problems.append(f"{place(i, 'posts', j, f'id {post.id!r}')}: {problem}")

    leaders = {leader.id for leader in site.leaders}
    guards = {guard.id for guard in site.guards}
    posts = {post.id for post in site.posts}
    for j, guard in enumerate(site.guards):
        for leader in guard.leaders:
            if leader not in leaders:
                where = place(i, "guards", j, f"id {guard.id!r}")
                problems.append(f"{where}: unknown leader {leader!r} (not among this site's)")
    problems += _leader_hierarchy_problems(site, i)

    # A guard may wear several GPS terminals (a badge and his phone): the presence rules judge
    # each on its own fixes (docs/presence-rules.md, "Two devices per guard").
    for j, device in enumerate(site.devices):
        where = place(i, "devices", j, f"id {device.id!r}")
        if device.guard is not None and device.guard not in guards:
            problems.append(f"{where}: bound to unknown guard {device.guard!r}")
        if device.post is not None and device.post not in posts:
            problems.append(f"{where}: placed at unknown post {device.post!r}")

    problems += _check_device_settings(checked)
    problems += _check_credentials(checked)
    problems += _check_checkpoints_and_routes(checked, posts)
    problems += robot_problems(site, i)
    if tz is not None:
        problems += _check_shifts(checked, tz, guards, posts, now)
    return problems


_CARD_READERS = frozenset({"nfc_reader", "em4100_reader"})


def _leader_hierarchy_problems(site: SiteEntry, i: int) -> list[str]:
    """``reports_to`` names another leader of the same site, and following it never comes back
    to where it started (escalation must end at a top)."""
    problems: list[str] = []
    up = {leader.id: leader.reports_to for leader in site.leaders}
    for j, leader in enumerate(site.leaders):
        where = place(i, "leaders", j, f"id {leader.id!r}")
        target = leader.reports_to
        if target is None:
            continue
        if target == leader.id:
            problems.append(f"{where}: reports_to names the leader himself")
        elif target not in up:
            problems.append(
                f"{where}: reports_to unknown leader {target!r} (not among this site's)"
            )
        else:
            seen = {leader.id}
            while target is not None and target in up and target not in seen:
                seen.add(target)
                target = up[target]
            if target == leader.id:
                problems.append(f"{where}: reports_to goes round in a circle back to him")
    return problems


def _check_device_settings(checked: CheckedSite) -> list[str]:
    site, i = checked.entry, checked.index
    problems: list[str] = []
    for j, device in enumerate(site.devices):
        where = place(i, "devices", j, f"id {device.id!r}")
        if device.timezone is not None:
            try:
                ZoneInfo(device.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                problems.append(f"{where}.timezone: unknown time zone {device.timezone!r}")
        if device.punch_kind is not None and device.kind not in _CARD_READERS:
            problems.append(
                f"{where}.punch_kind: only a card reader (nfc_reader, em4100_reader) acts as a "
                f"clock-in terminal, not a {device.kind}"
            )
        if device.sn is not None and device.kind != "clock_in":
            problems.append(f"{where}.sn: only a clock_in terminal has a serial number")
        if device.address is not None and (device.kind != "clock_in" or device.sn is None):
            problems.append(
                f"{where}.address: only a clock_in terminal pushing by its serial number (sn) "
                "is bound to the address it speaks from; the gateway connects to the others "
                "itself (url)"
            )
        if device.kind == "patrol_wand" and device.variant not in (None, *WAND_VARIANTS):
            problems.append(
                f"{where}.variant: a patrol wand downloads ids in one of "
                f"{', '.join(WAND_VARIANTS)}, not {device.variant!r}"
            )
        elif device.variant is not None and device.kind not in ("em4100_reader", "patrol_wand"):
            problems.append(f"{where}.variant: only an em4100_reader or a patrol_wand has variants")
        if device.secret_ref is not None and device.kind != "gps":
            problems.append(f"{where}.secret_ref: only a GPS terminal has a broker account")
        if device.url is not None and device.kind == "gps":
            problems.append(f"{where}.url: a GPS terminal reaches the gateway over MQTT, no url")
    return problems


def _check_credentials(checked: CheckedSite) -> list[str]:
    """PINs and cards name one guard within the site; a card is not also a checkpoint tag."""
    site, i = checked.entry, checked.index
    problems: list[str] = []
    tags = {tag for cp in site.checkpoints for tag in cp.tags}
    pins: dict[str, str] = {}
    cards: dict[str, str] = {}
    for j, guard in enumerate(site.guards):
        where = place(i, "guards", j, f"id {guard.id!r}")
        if guard.pin is not None:
            if guard.pin in pins:
                problems.append(f"{where}.pin: {guard.pin!r} is also the PIN of {pins[guard.pin]}")
            pins.setdefault(guard.pin, where)
        for card in guard.cards:
            if card in cards:
                problems.append(f"{where}.cards: {card!r} is also a card of {cards[card]}")
            elif card in tags:
                problems.append(f"{where}.cards: {card!r} is also a checkpoint tag")
            cards.setdefault(card, where)
    return problems


def _check_checkpoints_and_routes(checked: CheckedSite, posts: set[str]) -> list[str]:
    site, i = checked.entry, checked.index
    problems: list[str] = []
    post_of: dict[str, str] = {}
    for j, cp in enumerate(site.checkpoints):
        post_of[cp.id] = cp.post
        if cp.post not in posts:
            where = place(i, "checkpoints", j, f"id {cp.id!r}")
            problems.append(f"{where}: at unknown post {cp.post!r}")
    for j, route in enumerate(site.routes):
        where = place(i, "routes", j, f"id {route.id!r}")
        if route.post not in posts:
            problems.append(f"{where}: at unknown post {route.post!r}")
        for text in route.schedule.times or []:
            try:
                time_of_day(text)
            except ValueError as exc:
                problems.append(f"{where}.schedule.times: {exc}")
        listed: set[str] = set()
        for k, step in enumerate(route.checkpoints):
            here = f"{where}.checkpoints[{k}]"
            start, end = step.window_min
            if start > end:
                problems.append(f"{here}.window_min: start {start} is after end {end}")
            if step.checkpoint in listed:
                problems.append(f"{here}: checkpoint {step.checkpoint!r} is listed twice")
            listed.add(step.checkpoint)
            if step.checkpoint not in post_of:
                problems.append(f"{here}: unknown checkpoint {step.checkpoint!r}")
            elif post_of[step.checkpoint] != route.post:
                problems.append(
                    f"{here}: checkpoint {step.checkpoint!r} is at post "
                    f"{post_of[step.checkpoint]!r}, not at the route's post {route.post!r}"
                )
        if route.schedule.every_min is not None:
            length = max(step.window_min[1] for step in route.checkpoints)
            if length > route.schedule.every_min:
                problems.append(
                    f"{where}.schedule: rounds every {route.schedule.every_min:g} min but a round "
                    f"lasts {length:g} min: rounds would overlap"
                )
    return problems


def _check_shifts(
    checked: CheckedSite, tz: ZoneInfo, guards: set[str], posts: set[str], now: datetime
) -> list[str]:
    site, i = checked.entry, checked.index
    first_day, last_day = expansion_days(now, tz)
    problems: list[str] = []
    for j, entry in enumerate(site.shifts):
        where = _shift_place(i, j, entry)
        bad_ref = False
        if entry.guard not in guards:
            problems.append(f"{where}: unknown guard {entry.guard!r}")
            bad_ref = True
        if entry.post not in posts:
            problems.append(f"{where}: unknown post {entry.post!r}")
            bad_ref = True
        try:
            occurrences = expand_entry(entry, tz, first_day, last_day)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if bad_ref:
            continue
        checked.shifts += [
            ShiftInstance(site.id, entry.guard, entry.post, start, end, j)
            for start, end in occurrences
        ]
    problems += _overlaps(checked, tz)
    return problems


def _overlaps(checked: CheckedSite, tz: ZoneInfo) -> list[str]:
    problems: list[str] = []
    reported: set[tuple[int, int]] = set()
    by_guard = sorted(checked.shifts, key=lambda s: (s.guard_id, s.starts_at, s.ends_at))
    for earlier, later in _pairs_overlapping(by_guard):
        pair = (
            min(earlier.entry_index, later.entry_index),
            max(earlier.entry_index, later.entry_index),
        )
        if pair in reported:
            continue
        reported.add(pair)
        entries = checked.entry.shifts
        problems.append(
            f"{_shift_place(checked.index, later.entry_index, entries[later.entry_index])}: "
            f"{_local_span(later, tz)} overlaps "
            f"{_shift_place(checked.index, earlier.entry_index, entries[earlier.entry_index])} "
            f"{_local_span(earlier, tz)} for the same guard"
        )
    return problems


def _pairs_overlapping(
    ordered: list[ShiftInstance],
) -> Iterable[tuple[ShiftInstance, ShiftInstance]]:
    """Pairs of one guard's shifts that overlap; ``ordered`` is sorted by guard, then start."""
    latest: ShiftInstance | None = None
    for shift in ordered:
        if latest is not None and latest.guard_id != shift.guard_id:
            latest = None
        if latest is not None and shift.starts_at < latest.ends_at:
            yield latest, shift
        if latest is None or shift.ends_at > latest.ends_at:
            latest = shift


def _shift_place(site: int, index: int, entry: ShiftEntry) -> str:
    return place(site, "shifts", index, f"guard {entry.guard!r}, post {entry.post!r}")


def _local_span(shift: ShiftInstance, tz: ZoneInfo) -> str:
    start = shift.starts_at.astimezone(tz)
    end = shift.ends_at.astimezone(tz)
    return f"[{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}]"
