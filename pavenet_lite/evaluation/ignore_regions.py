"""Ignore regions: the strict point-in-polygon test poseval applies through shapely's `Polygon.contains`."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Strict point-in-polygon test with shapely's `Polygon.contains` semantics: boundary points are NOT inside.

    points: [n, 2] (x, y); polygon: [V, 2] vertices of a simple ring (closing vertex optional). Returns [n] bool.
    Even-odd ray casting for the interior, then every point lying on an edge is excluded. A polygon with fewer than
    3 vertices has no interior (poseval/shapely would reject it; we let it contain nothing).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points_in_polygons(pts, [polygon], np.zeros(len(pts), dtype=np.int64))


def points_in_polygons(points: np.ndarray, polygons: Sequence[np.ndarray], owner: np.ndarray) -> np.ndarray:
    """`points_in_polygon(points[i], polygons[owner[i]])` for every i at once: points [n, 2], owner [n] -> [n] bool.

    Polygons are padded to the same vertex count by repeating their last vertex: the padding adds zero-length
    edges, which no horizontal ray crosses and on which only that vertex lies (a boundary point either way), so the
    test is unchanged.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    rings = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons]
    valid = np.array([len(r) >= 3 for r in rings] + [False])  # [R + 1]; the extra entry keeps an empty list valid
    if not valid.any():
        return np.zeros(len(pts), dtype=bool)
    size = max(len(r) for r in rings if len(r) >= 3)
    padded = np.stack([np.concatenate([r, np.repeat(r[-1:], size - len(r), axis=0)]) if len(r) >= 3
                       else np.zeros((size, 2)) for r in rings])  # [R, V, 2]
    a, b = padded[owner], np.roll(padded, -1, axis=1)[owner]  # edges a -> b of each point's polygon, [n, V, 2]
    px, py = pts[:, None, 0], pts[:, None, 1]  # [n, 1]
    ax, ay, bx, by = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    straddles = (ay > py) != (by > py)  # [n, V]; half-open rule, so horizontal edges never count
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = ax + (py - ay) * (bx - ax) / (by - ay)
    inside = (straddles & (px < x_cross)).sum(axis=1) % 2 == 1
    on_edge = (((bx - ax) * (py - ay) - (by - ay) * (px - ax)) == 0) \
        & (np.minimum(ax, bx) <= px) & (px <= np.maximum(ax, bx)) \
        & (np.minimum(ay, by) <= py) & (py <= np.maximum(ay, by))
    return inside & ~on_edge.any(axis=1) & valid[owner]
