"""Notices about a valid site file (``gateway.site.notices``): a guard whom nothing reports
while he is on duty (only offline patrol wands) is named, with the posts where that is so; a
PUSH terminal any address may speak for is named."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.samples import WUHAN_SITE
from gateway.site.loader import read_site_file
from gateway.site.notices import site_notices
from gateway.site.schema import SiteFile


def _site(devices: list[dict[str, Any]], posts: tuple[str, ...] = ("p-gate",)) -> SiteFile:
    """g-1 on shift at ``posts``; g-2 on none; ``devices`` as given."""
    return SiteFile.model_validate(
        {
            "sites": [
                {
                    "id": "s-1",
                    "name": "site",
                    "posts": [
                        {
                            "id": p,
                            "name": p,
                            "datum": "wgs84",
                            "fence": {"type": "Circle", "center": [114.3, 30.6], "radius_m": 50},
                        }
                        for p in ("p-gate", "p-garden")
                    ],
                    "guards": [{"id": "g-1", "name": "one"}, {"id": "g-2", "name": "two"}],
                    "devices": devices,
                    "shifts": [
                        {
                            "guard": "g-1",
                            "post": p,
                            "days": "daily",
                            "start": "08:00",
                            "end": "20:00",
                        }
                        for p in posts
                    ],
                }
            ]
        }
    )


WAND = {"id": "wand-1", "kind": "patrol_wand", "guard": "g-1"}


@pytest.mark.parametrize(
    ("devices", "posts", "named"),
    [
        ([WAND], ("p-gate",), "'p-gate'"),
        ([], ("p-gate", "p-garden"), "'p-gate', 'p-garden'"),
        ([{"id": "wand-2", "kind": "patrol_wand", "post": "p-gate"}], ("p-gate",), "'p-gate'"),
        (
            [WAND, {"id": "zk-1", "kind": "clock_in", "post": "p-gate"}],
            ("p-gate", "p-garden"),
            "'p-garden'",
        ),
        ([WAND, {"id": "gps-1", "kind": "gps", "guard": "g-1"}], ("p-gate",), None),
        ([WAND, {"id": "em-1", "kind": "em4100_reader", "post": "p-gate"}], ("p-gate",), None),
    ],
    ids=[
        "his wand only",
        "no device, two posts",
        "the post's wand only",
        "a clock-in terminal at one of his posts",
        "a GPS terminal",
        "a reader at his post",
    ],
)
def test_a_guard_nothing_reports_while_on_duty_is_named(
    devices: list[dict[str, Any]], posts: tuple[str, ...], named: str | None
) -> None:
    notices = site_notices(_site(devices, posts))
    if named is None:
        assert notices == []
        return
    [notice] = notices  # g-2 has no shift: nothing to watch
    assert notice.startswith("sites[0].guards[0] (id 'g-1'): nothing reports where he is")
    assert f"at post {named} (" in notice


def test_the_sample_site_has_none() -> None:
    doc, _ = read_site_file(WUHAN_SITE)
    assert site_notices(doc) == []


def test_a_push_terminal_with_no_address_is_named_as_forgeable() -> None:
    gps = {"id": "gps-1", "kind": "gps", "guard": "g-1"}
    unbound = {"id": "zk-1", "kind": "clock_in", "post": "p-gate", "sn": "ZK0001"}
    bound = {**unbound, "id": "zk-2", "sn": "ZK0002", "address": "192.168.10.0/28"}
    binary = {"id": "zk-3", "kind": "clock_in", "post": "p-gate", "url": "tcp://10.0.0.9:4370"}
    [notice] = site_notices(_site([gps, unbound, bound, binary]))
    assert notice.startswith(
        "sites[0].devices[1] (id 'zk-1'): its punches can be forged by anyone on its network "
        "who knows its serial number 'ZK0001'"
    )
    assert "address: 192.168.10.21" in notice


def _patrol_site(times: list[str], shifts: list[tuple[str, str]]) -> SiteFile:
    """A patrol post whose route walks two checkpoints in 10 minutes at ``times``, with a
    roster line ``(start, end)`` at the post for each of ``shifts``."""
    doc: dict[str, Any] = {
        "id": "s-1",
        "name": "site",
        "posts": [
            {
                "id": "p-garden",
                "name": "garden",
                "kind": "patrol",
                "datum": "wgs84",
                "fence": {"type": "Circle", "center": [114.3, 30.6], "radius_m": 50},
            }
        ],
        "guards": [{"id": "g-1", "name": "one"}, {"id": "g-2", "name": "two"}],
        "devices": [{"id": "em-1", "kind": "em4100_reader", "post": "p-garden", "url": "/dev/x"}],
        "shifts": [
            {"guard": f"g-{n}", "post": "p-garden", "days": "daily", "start": s, "end": e}
            for n, (s, e) in enumerate(shifts, start=1)
        ],
        "checkpoints": [
            {"id": cp, "name": cp, "post": "p-garden", "tags": [f"01000000{n:02d}"]}
            for n, cp in enumerate(("cp-a", "cp-b"))
        ],
        "routes": [
            {
                "id": "r-garden",
                "post": "p-garden",
                "schedule": {"times": times},
                "checkpoints": [
                    {"checkpoint": "cp-a", "window_min": [0, 5]},
                    {"checkpoint": "cp-b", "window_min": [5, 10]},
                ],
            }
        ],
    }
    return SiteFile.model_validate({"sites": [doc]})


def test_a_round_across_the_shift_change_is_named_as_never_planned() -> None:
    # Day 06:00-14:00, night 14:00-06:00 (next day): the 13:55 round ends at 14:05, in neither
    # shift, so no round is planned then; 22:00 and 03:00 fit the night shift.
    doc = _patrol_site(["13:55", "22:00", "03:00"], [("06:00", "14:00"), ("14:00", "06:00")])
    [notice] = site_notices(doc)
    assert notice.startswith("sites[0].routes[0] (id 'r-garden'): its round at 13:55")
    assert "fits in no shift at post 'p-garden'" in notice
    assert "never" in notice


def test_rounds_that_fit_a_shift_even_past_midnight_are_not_named() -> None:
    doc = _patrol_site(["13:50", "23:55", "05:50"], [("06:00", "14:00"), ("14:00", "06:00")])
    assert site_notices(doc) == []
