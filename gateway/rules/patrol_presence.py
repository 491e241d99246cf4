"""Checkpoint scans and punches as evidence for the presence rules.

A scan of a checkpoint (or a punch at a terminal) is proof that the guard stood at that
checkpoint's post at that moment, better than any GPS fix indoors. :func:`presence_evidence`
turns it into a presence ``FixObserved`` with membership INSIDE, distance 0 and accuracy 0.

How scans and GPS interleave (the presence rules are unchanged):

* the evidence is a fix like any other, so the runtime feeds scans and fixes of one guard in
  device-time order; the presence machine ignores a fix older than the last one it processed;
* an INSIDE fix cancels a candidate departure, so while scans keep coming at intervals shorter
  than ``departure_confirm_s`` an indoor guard whose GPS drifts OUTSIDE (or reads UNCERTAIN, which
  changes nothing anyway) never gets a departure; a real departure (no scans, GPS outside for
  ``departure_confirm_s``) is still confirmed;
* during an open departure a scan at the post starts a return, confirmed after
  ``return_confirm_s`` without an outside fix, exactly like a GPS fix inside;
* the evidence counts as data from the guard: it keeps ``alert.device_silent`` quiet, since the
  point of that alert is that nobody knows where the guard is;
* ``device_id`` must be among the presence state's ``device_ids`` (the runtime lists the site's
  readers, wands and terminals there, or passes the guard's GPS terminal id), otherwise the
  presence machine ignores it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from gateway.clock import utc
from gateway.records import Punch, PunchKind
from geofence.membership import Membership

from .copying import replace
from .entries import iso
from .inputs import FixObserved, ReportFiled, RuleInput
from .patrol_events import ScanObserved, punch_key

__all__ = ["presence_evidence", "punch_presence_inputs", "punch_report_id", "scan_as_fix"]

_REPORT_NAMESPACE = uuid.UUID("6c1f3a57-3f0e-4d52-9a55-1c8a4f7e2b90")


def presence_evidence(
    *,
    device_id: str,
    at: datetime,
    received_at: datetime,
    lat: float,
    lon: float,
    raw: str,
) -> FixObserved:
    """A fix that places the guard inside his post at ``at``: distance 0, accuracy 0.

    ``lat``/``lon`` (WGS-84) are where the evidence was taken, e.g. the checkpoint's or the
    post's centre; they are kept as evidence only, the membership does not depend on them.
    """
    return FixObserved(
        device_id=device_id,
        fix_time=utc(at),
        received_at=utc(received_at),
        membership=Membership.INSIDE,
        distance_m=0.0,
        accuracy_m=0.0,
        lat=lat,
        lon=lon,
        raw=raw,
        worn=False,
    )


def scan_as_fix(
    scan: ScanObserved, *, lat: float, lon: float, device_id: str | None = None
) -> FixObserved:
    """The presence input for a resolved checkpoint scan at the guard's own post.

    The caller only calls this when the checkpoint's post is the post of the guard's shift.
    ``device_id`` defaults to the reader's id. ``raw`` records the scan:
    ``scan checkpoint=<id> tag=<tag> reader=<reader> at=<iso> raw=<reader's raw>``.
    """
    raw = (
        f"scan checkpoint={scan.checkpoint_id} tag={scan.tag_id} reader={scan.reader_id} "
        f"at={iso(scan.scanned_at)} raw={scan.raw}"
    )
    return presence_evidence(
        device_id=scan.reader_id if device_id is None else device_id,
        at=scan.scanned_at,
        received_at=scan.received_at,
        lat=lat,
        lon=lon,
        raw=raw,
    )


def punch_report_id(punch: Punch) -> str:
    """The id of the verbal report a break-out punch stands for (a UUID from the punch)."""
    return str(uuid.uuid5(_REPORT_NAMESPACE, punch_key(punch)))


def punch_presence_inputs(
    punch: Punch,
    *,
    terminal_at_post: bool,
    lat: float = 0.0,
    lon: float = 0.0,
    device_id: str | None = None,
) -> tuple[RuleInput, ...]:
    """What a punch of a guard on duty tells the presence machine of his shift, in order.

    ``terminal_at_post``: the terminal stands at the post of the guard's shift; then the punch
    is also an INSIDE fix at the punch time (reported under ``device_id``, default the
    terminal's id; ``lat``/``lon`` are kept as evidence only); a check-out's fix
    ``checks_out``, which before the shift's end opens a departure at the punch
    (:mod:`gateway.rules.check_out`). A break-out adds a ``ReportFiled`` after that fix, so the
    departure that follows is covered by the report. A punch at a terminal elsewhere places
    him nowhere: a check-out there opens nothing (when he left his post it cannot tell).
    """
    out: list[RuleInput] = []
    at = utc(punch.punched_at)
    if terminal_at_post:
        fix: FixObserved = presence_evidence(
            device_id=punch.terminal_id if device_id is None else device_id,
            at=at,
            received_at=punch.received_at,
            lat=lat,
            lon=lon,
            raw=(
                f"punch terminal={punch.terminal_id} person={punch.person_id} "
                f"kind={punch.kind.value} at={iso(at)} raw={punch.raw}"
            ),
        )
        if punch.kind is PunchKind.CHECK_OUT:
            fix = replace(fix, checks_out=True)
        out.append(fix)
    if punch.kind is PunchKind.BREAK_OUT:
        out.append(
            ReportFiled(
                report_id=punch_report_id(punch),
                reported_at=at,
                reason=f"break-out punch at terminal {punch.terminal_id}",
            )
        )
    return tuple(out)
