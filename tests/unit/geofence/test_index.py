"""A site's posts behind an STRtree."""

from __future__ import annotations

import pytest

from geofence import FenceError, PostFence, SiteFences, SiteProjection

from .posts import square_around

ORIGIN = (114.3000, 30.5900)


def _site() -> SiteFences:
    """Three 40 m posts on an east-west line, centres 0, 200 and 600 m east of the origin."""
    p = SiteProjection(*ORIGIN)
    centres = {"gate": p.inverse(0, 0), "lobby": p.inverse(200, 0), "garage": p.inverse(600, 0)}
    shapes = {
        pid: {"type": "Polygon", "coordinates": [square_around(*c, 20)]}
        for pid, c in centres.items()
    }
    return SiteFences.from_geojson(shapes, projection=p)


def _at(x: float, y: float) -> tuple[float, float]:
    return SiteProjection(*ORIGIN).inverse(x, y)


def test_posts_near_lists_fences_within_the_radius_nearest_first() -> None:
    site = _site()
    # 100 m east of the origin: gate's edge 80 m west, lobby's edge 80 m east (tie), garage 480 m.
    assert sorted(site.posts_near(*_at(100, 0), 85)) == ["gate", "lobby"]
    assert site.posts_near(*_at(100, 0), 75) == []
    assert site.posts_near(*_at(130, 0), 500) == ["lobby", "gate", "garage"]


def test_posts_near_counts_a_containing_fence_at_any_radius() -> None:
    site = _site()
    assert site.posts_near(*_at(205, 5), 0) == ["lobby"]


def test_nearest_post_is_the_closest_fence() -> None:
    site = _site()
    assert site.nearest_post(*_at(-300, 40)) == "gate"
    assert site.nearest_post(*_at(350, 0)) == "lobby"
    assert site.nearest_post(*_at(450, 0)) == "garage"
    assert site.nearest_post(*_at(5000, 5000)) == "garage"


def test_overlapping_fences_give_the_post_the_fix_is_deepest_inside() -> None:
    big = {"type": "Circle", "center": list(ORIGIN), "radius_m": 300}
    small = {"type": "Circle", "center": list(_at(280, 0)), "radius_m": 40}
    site = SiteFences.from_geojson({"yard": big, "booth": small})
    assert site.nearest_post(*_at(280, 0)) == "booth"
    assert site.nearest_post(*_at(-100, 0)) == "yard"
    assert site.posts_near(*_at(280, 0), 0) == ["booth", "yard"]


def test_site_shares_one_projection_and_keeps_distances() -> None:
    fence = PostFence.from_geojson({"type": "Circle", "center": [114.31, 30.60], "radius_m": 30})
    site = SiteFences({"gate": fence})
    assert site["gate"].projection == site.projection
    probe = (114.3105, 30.6004)
    assert site["gate"].signed_distance_m(*probe) == pytest.approx(
        fence.signed_distance_m(*probe), abs=0.01
    )
    assert "gate" in site and len(site) == 1 and list(site) == ["gate"]


def test_empty_site_has_no_nearest_post() -> None:
    site = SiteFences({})
    assert site.nearest_post(*ORIGIN) is None
    assert site.posts_near(*ORIGIN, 1000) == []


def test_bad_fence_error_names_the_post() -> None:
    with pytest.raises(FenceError, match=r"^post gate-2: Circle: radius_m must be greater than 0"):
        SiteFences.from_geojson(
            {"gate-2": {"type": "Circle", "center": list(ORIGIN), "radius_m": 0}}
        )


def test_negative_radius_query_is_refused() -> None:
    with pytest.raises(ValueError, match="radius"):
        _site().posts_near(*ORIGIN, -1)
