"""A site's policy: every limit the filters and rules apply, with the defaults of the rules.

The defaults follow the Wuhan implementation rules (article 10.1): a departure of up to 15 minutes
needs a verbal report, a longer one an approved leave, and a leave is cancelled within one hour of
returning. The rest are engineering defaults a site can override in its configuration file.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SitePolicy"]


@dataclass(frozen=True, slots=True)
class SitePolicy:
    """Limits for one site. All durations in seconds, distances in metres, speeds in m/s."""

    verbal_report_limit_s: float = 15 * 60
    """Longest departure a verbal report covers; past it an approved leave is required."""
    leave_cancel_limit_s: float = 60 * 60
    """After returning from a leave, the leave must be cancelled within this time."""
    departure_confirm_s: float = 60
    """A guard must be clearly outside this long (device time) before a departure is confirmed."""
    return_confirm_s: float = 30
    """A guard must be clearly inside this long before a return is confirmed."""
    boundary_margin_m: float = 15
    """Band around the fence in which a fix is never taken as a departure."""
    report_grace_s: float = 120
    """A verbal report or leave filed up to this long after a departure began still covers it."""
    report_validity_s: float = 30 * 60
    """A verbal report covers a departure that starts within this long after it was filed."""
    device_silent_s: float = 10 * 60
    """No data from an on-duty guard's terminal for this long raises ``alert.device_silent``."""
    shift_start_grace_s: float = 10 * 60
    """A guard not on post this long after his shift starts is absent at shift start."""
    max_accuracy_m: float = 100
    """Fixes with a worse (larger) accuracy radius are dropped before the rules."""
    max_speed_mps: float = 50
    """A jump implying a faster speed than this (180 km/h) is dropped as impossible."""
    max_fix_age_s: float = 24 * 60 * 60
    """Fixes older than this (against the clock) are stale and dropped."""
    future_tolerance_s: float = 120
    """Fixes dated further than this in the future (terminal clock wrong) are dropped."""
    still_radius_m: float = 30
    """A worn device whose fixes stay within this distance (plus their accuracies) of where it
    stood is still: if it stays still on the post while another of the guard's devices is away,
    it was left behind (``alert.device_left_behind``)."""
    early_leave_tolerance_s: float = 0
    """A departure that began less than this before the shift end and never came back is not
    reported as leaving early (a relief that arrives a few minutes early, if a site allows it)."""
    next_post_walk_s: float = 5 * 60
    """A guard whose next shift, at another post, starts when this one ends (or up to this long
    after) may leave this long before the end to go there (轮岗): that outing ends his shift
    here, neither unreported nor leaving early; his next shift's absence grace covers the way.
    0: he stays to the end."""
    end_upload_wait_s: float = 10 * 60
    """At the shift end, a worn terminal not heard from for more than a minute of its own time
    may be in a blind area (a basement, a lift) with stored positions that show where the
    guard was before the end: the end's decisions (``alert.left_early``) wait up to this long
    for that upload, less once its positions reach the end. 0: the end never waits."""
    sos_episode_gap_s: float = 10 * 60
    """SOS messages of a device less than this apart (device time) with no message without SOS
    in between belong to one emergency: one ``alert.sos``."""
    escalate_after_s: float = 10 * 60
    """An alert nobody acknowledged this long after it opened is escalated (``alert.escalated``)
    to the leaders one level up (``leaders[].reports_to``); 0 means never."""
