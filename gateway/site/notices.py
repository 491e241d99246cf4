"""Notices about a valid site file: what it allows but the gateway cannot watch, said at
``site check``, ``site load`` and ``run --site`` without refusing the file.

Four kinds. The gateway must know where every guard on duty is. A guard whose shifts put
him at a post where nothing of his reports while he is on duty (no GPS terminal of his own,
and no reader or clock-in terminal standing at that post, only offline patrol wands) is heard
only when a wand is downloaded, after the shift as a rule. So he is raised *absent at shift
start* at every shift until a download shows him there; he is not raised *terminal silent*,
having no terminal that could be (docs/site-file.md).

And a reader set to decimal or Wiegand output delivers only part of an EM4100 id
(``gateway.site.tag_forms``): two cards or tags of a site whose ids share that part cannot be
told apart by it. Their read names neither (reported as an unknown card or tag, never given to
one of them at random), and the notice names them and the read.

And a ZKTeco PUSH terminal (a ``clock_in`` with an ``sn``) given no ``address`` is answered
from anywhere: anyone on its network who knows its serial number (on its label, in its menu)
can upload punches in its name, a check-in for any PIN.

And a patrol round at a set time that a shift change cuts fits in no shift, so it is never
planned (``gateway.site.round_notices``).
"""

from __future__ import annotations

from collections import defaultdict

from gateway.site.round_notices import unplanned_round_notices
from gateway.site.schema import SiteEntry, SiteFile
from gateway.site.tag_forms import ReadForm, ambiguous_reads

__all__ = ["site_notices"]

_REPORTS_LIVE = frozenset({"gps", "nfc_reader", "em4100_reader", "clock_in"})
"""The device kinds heard while the guard is on duty (a patrol wand only at its download)."""


def site_notices(doc: SiteFile) -> list[str]:
    """A notice, placed as the loader places its problems (``sites[i].guards[j] (id '...')``),
    for each guard with shifts at a post where no device reports where he is, for each PUSH
    terminal with no ``address``, for each round at a set time that fits in no shift at its
    post, and placed on the site for each read of its decimal or
    Wiegand readers that names two of its cards or checkpoint tags."""
    notices: list[str] = []
    for i, site in enumerate(doc.sites):
        notices += _ambiguous_read_notices(i, site)
        notices += _unbound_terminal_notices(i, site)
        notices += unplanned_round_notices(i, site)
        own: dict[str, set[str]] = defaultdict(set)
        at_post: dict[str, set[str]] = defaultdict(set)
        for device in site.devices:
            if device.guard is not None:
                own[device.guard].add(device.kind)
            elif device.post is not None:
                at_post[device.post].add(device.kind)
        posts_of: dict[str, list[str]] = defaultdict(list)
        for shift in site.shifts:
            if shift.post not in posts_of[shift.guard]:
                posts_of[shift.guard].append(shift.post)
        for j, guard in enumerate(site.guards):
            if own[guard.id] & _REPORTS_LIVE:
                continue
            unwatched = [p for p in posts_of[guard.id] if not at_post[p] & _REPORTS_LIVE]
            if unwatched:
                where = ", ".join(f"'{p}'" for p in unwatched)
                notices.append(
                    f"sites[{i}].guards[{j}] (id '{guard.id}'): nothing reports where he is "
                    f"while on duty at post {where} (no GPS terminal of his, no reader or "
                    "clock-in terminal there): he is raised absent at every shift start until "
                    "a patrol wand's download shows him there; give him a GPS terminal, or "
                    "put a reader or clock-in terminal at the post"
                )
    return notices


_READERS_OF = {
    ReadForm.DECIMAL: "decimal (or wiegand34) readers or patrol wands",
    ReadForm.WIEGAND26: "wiegand26 readers or patrol wands",
}


def _ambiguous_read_notices(i: int, site: SiteEntry) -> list[str]:
    notices: list[str] = []
    for (form, read), named in ambiguous_reads(site).items():
        which = " and ".join(f"{owner} (tag {tag!r})" for tag, owner in named)
        notices.append(
            f"sites[{i}] (id '{site.id}'): its {_READERS_OF[form]} read {read!r} for {which}: "
            "such a read is matched to none of them (reported as an unknown card or tag); "
            "give one of them another card or tag, or read them with an rdm6300 reader (a wand "
            "set to hex)"
        )
    return notices


def _unbound_terminal_notices(i: int, site: SiteEntry) -> list[str]:
    return [
        f"sites[{i}].devices[{j}] (id '{device.id}'): its punches can be forged by anyone on "
        f"its network who knows its serial number {device.sn!r} (on its label, in its menu): "
        "it is answered from any address; give it the address it speaks from (address: "
        "192.168.10.21, or a network such as 192.168.10.0/28)"
        for j, device in enumerate(site.devices)
        if device.kind == "clock_in" and device.sn is not None and device.address is None
    ]
