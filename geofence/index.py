"""A site's posts and a spatial index over them, all in one metric plane."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from shapely import STRtree, box
from shapely.geometry import Point

from .datum import Datum
from .fence import FenceError, PostFence
from .projection import SiteProjection

__all__ = ["SiteFences"]


class SiteFences:
    """The fences of one site's posts (``post_id → PostFence``) with an STRtree over them.

    All fences are moved into one :class:`SiteProjection` (``projection``, or by default one
    centred on the middle of the fences' combined WGS-84 bounding box). Immutable once built.
    """

    def __init__(
        self, fences: Mapping[str, PostFence], projection: SiteProjection | None = None
    ) -> None:
        if projection is None:
            projection = _projection_for(fences.values())
        self.projection = projection
        self._fences: dict[str, PostFence] = {
            pid: f.reproject(projection) for pid, f in fences.items()
        }
        self._ids = list(self._fences)
        self._tree = STRtree([self._fences[pid].metric for pid in self._ids])

    @classmethod
    def from_geojson(
        cls,
        shapes: Mapping[str, Mapping[str, Any]],
        *,
        datum: Datum | str = Datum.WGS84,
        projection: SiteProjection | None = None,
    ) -> SiteFences:
        """Load every post's shape; a :class:`FenceError` message starts with ``post <id>: ``."""
        fences: dict[str, PostFence] = {}
        for pid, shape in shapes.items():
            try:
                fences[pid] = PostFence.from_geojson(shape, datum=datum, projection=projection)
            except FenceError as exc:
                raise FenceError(f"post {pid}: {exc}") from None
        return cls(fences, projection)

    def __len__(self) -> int:
        return len(self._fences)

    def __contains__(self, post_id: object) -> bool:
        return post_id in self._fences

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __getitem__(self, post_id: str) -> PostFence:
        return self._fences[post_id]

    def posts_near(self, lon: float, lat: float, radius_m: float) -> list[str]:
        """Posts whose fence is within ``radius_m`` of WGS-84 ``(lon, lat)``, nearest first.

        A fence containing the point is at distance 0 (deepest inside first).
        """
        if not (math.isfinite(radius_m) and radius_m >= 0):
            raise ValueError(f"radius must be a finite number >= 0 metres, got {radius_m}")
        x, y = self.projection.forward(lon, lat)
        envelope = box(x - radius_m, y - radius_m, x + radius_m, y + radius_m)
        found: list[tuple[float, str]] = []
        for i in self._tree.query(envelope):
            pid = self._ids[int(i)]
            d = self._fences[pid].signed_distance_xy(x, y)
            if d <= radius_m:
                found.append((d, pid))
        found.sort()
        return [pid for _, pid in found]

    def nearest_post(self, lon: float, lat: float) -> str | None:
        """The post whose fence is nearest to WGS-84 ``(lon, lat)``; ``None`` for an empty site.

        Where fences overlap the point, the one it is deepest inside wins.
        """
        if not self._ids:
            return None
        x, y = self.projection.forward(lon, lat)
        candidates = self._tree.query_nearest(Point(x, y), all_matches=True)
        best = min(
            (self._fences[self._ids[int(i)]].signed_distance_xy(x, y), self._ids[int(i)])
            for i in candidates
        )
        return best[1]


def _projection_for(fences: Any) -> SiteProjection:
    items = list(fences)
    if not items:
        return SiteProjection(0.0, 0.0)
    minx = min(f.wgs84.bounds[0] for f in items)
    miny = min(f.wgs84.bounds[1] for f in items)
    maxx = max(f.wgs84.bounds[2] for f in items)
    maxy = max(f.wgs84.bounds[3] for f in items)
    return SiteProjection((minx + maxx) / 2, (miny + maxy) / 2)
