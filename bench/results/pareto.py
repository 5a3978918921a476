"""The Pareto front of entries scored on two axes (the leaderboard's two-axis view)."""

from __future__ import annotations

from collections.abc import Sequence


def pareto_front(points: Sequence[tuple[float, float]], *, x_higher: bool, y_higher: bool) -> tuple[int, ...]:
    """Indices of the points no other point dominates, ordered by x (then y).

    Point q dominates p when q is at least as good as p on both axes and strictly better on one, "good" read
    from each score's direction (``x_higher`` / ``y_higher``: whether higher is better). Duplicated points do
    not dominate each other, so both stay on the front. (Pareto optimality; e.g. Deb 2001, "Multi-objective
    optimization using evolutionary algorithms", §2.4.)

    >>> pareto_front([(0.9, 0.1), (0.5, 0.5), (0.4, 0.4), (0.1, 0.9)], x_higher=True, y_higher=True)
    (3, 1, 0)
    >>> pareto_front([(0.9, 0.1), (0.5, 0.5)], x_higher=True, y_higher=False)
    (0,)
    """
    sx, sy = (1.0 if x_higher else -1.0), (1.0 if y_higher else -1.0)
    good = [(sx * x, sy * y) for x, y in points]

    def dominated(i: int) -> bool:
        gx, gy = good[i]
        return any(ox >= gx and oy >= gy and (ox > gx or oy > gy) for ox, oy in good)

    front = [i for i in range(len(points)) if not dominated(i)]
    return tuple(sorted(front, key=lambda i: (points[i][0], points[i][1])))
