"""Ignore regions: the strict point-in-polygon test poseval applies through shapely's `Polygon.contains`."""
from __future__ import annotations

import numpy as np


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Strict point-in-polygon test with shapely's `Polygon.contains` semantics: boundary points are NOT inside.

    points: [n, 2] (x, y); polygon: [V, 2] vertices of a simple ring (closing vertex optional). Returns [n] bool.
    Even-odd ray casting for the interior, then every point lying on an edge is excluded. A polygon with fewer than
    3 vertices has no interior (poseval/shapely would reject it; we let it contain nothing).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(poly) < 3:
        return np.zeros(len(pts), dtype=bool)
    a, b = poly[None, :, :], np.roll(poly, -1, axis=0)[None, :, :]  # edges a -> b, [1, V, 2]
    px, py = pts[:, None, 0], pts[:, None, 1]  # [n, 1]
    ax, ay, bx, by = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    straddles = (ay > py) != (by > py)  # [n, V]; half-open rule, so horizontal edges never count
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = ax + (py - ay) * (bx - ax) / (by - ay)
    inside = (straddles & (px < x_cross)).sum(axis=1) % 2 == 1
    on_edge = (((bx - ax) * (py - ay) - (by - ay) * (px - ax)) == 0) \
        & (np.minimum(ax, bx) <= px) & (px <= np.maximum(ax, bx)) \
        & (np.minimum(ay, by) <= py) & (py <= np.maximum(ay, by))
    return inside & ~on_edge.any(axis=1)
