"""The paper's Figure 1: 2-D PCA of the embeddings of US states and their largest cities, side by side.

Each panel takes one embedding matrix (rows aligned with one vocabulary), L2-normalizes the rows
of the chosen words (as the cosine evaluation does), centers them and projects on the top two
principal directions. Next to the picture we report numbers a reader can compare: the variance
share of the two components and how well states and cities separate, in the PCA plane and in
the full space (:func:`loo_similarity_accuracy`: 0.5 is chance, exactly 0.5 for orthonormal
vectors such as the NTK's frozen one-hot embeddings, where a Euclidean leave-one-out
nearest-centroid rule would be biased down to 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infwidth.errors import UserError


def _as_numpy(emb: Any) -> np.ndarray:
    if hasattr(emb, "detach"):
        emb = emb.detach().cpu().numpy()
    return np.asarray(emb, dtype=np.float64)


def pca_2d(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates on the top two principal axes (float64) and the share of variance each explains.

    Signs are fixed so that each axis' largest-magnitude loading is positive (stable pictures).
    """
    x = np.asarray(points, dtype=np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(2, vt.shape[0])
    axes = vt[:k]
    signs = np.sign(axes[np.arange(k), np.abs(axes).argmax(axis=1)])
    axes = axes * np.where(signs == 0, 1.0, signs)[:, None]
    coords = x @ axes.T
    if k < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - k)))
    total = float((s**2).sum())
    explained = np.array([(s[i] ** 2) / total if total > 0 and i < k else 0.0 for i in range(2)])
    return coords, explained


def loo_similarity_accuracy(points: np.ndarray, labels: np.ndarray) -> float:
    """Share of points more similar (dot product) on average to the *other* members of their own
    class than to the other class; ties count 1/2, so chance is 0.5 with no leave-one-out bias.

    On unit vectors this compares mean cosines; on centered PCA coordinates it is the
    nearest-centroid rule (for equal class sizes) without the point's own pull on its centroid.
    """
    points = np.asarray(points, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    sizes = {c: int((labels == c).sum()) for c in (False, True)}
    if min(sizes.values()) < 2:
        raise UserError("need at least two states and two cities to measure their separation")
    gram = points @ points.T
    tol = 1e-12 * max(1.0, float(np.abs(gram).max()))
    score = 0.0
    for i, c in enumerate(labels):
        own = (gram[i, labels == c].sum() - gram[i, i]) / (sizes[c] - 1)
        gap = own - gram[i, labels != c].mean()
        score += 1.0 if gap > tol else 0.5 if gap >= -tol else 0.0
    return score / len(points)


def separation_text(panel: Mapping[str, Any]) -> str:
    """The panel's numbers as both the figure and the console print them."""
    return (f"states/cities separation {100 * panel['separation_2d']:.0f}% in the PCA plane, "
            f"{100 * panel['separation_full']:.0f}% in full space")


def place_labels(ax: Any, coords: np.ndarray, words: Sequence[str], fontsize: float = 6) -> int:
    """Label every point without overlaps: each label tries offsets around its point (nearest first,
    up to ~60 points away, with a leader line when far) and keeps the first whose box overlaps no
    label placed before it. Returns how many labels could not avoid an overlap (0 when all fit)."""
    fig = ax.figure
    ax.set_xlim(*ax.get_xlim())  # freeze the limits so the boxes measured now stay valid
    ax.set_ylim(*ax.get_ylim())
    renderer = fig.canvas.get_renderer()
    directions = [(1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]
    candidates = [(r * dx, r * dy) for r in (3, 8, 14, 22, 32, 45, 60) for dx, dy in directions]
    point_boxes = [ax.transData.transform((x, y)) for x, y in coords]
    placed: list[Any] = []
    failed = 0
    order = np.argsort(-np.abs(coords).sum(axis=1))  # outer points first: they have the most room
    for i in order:
        best, best_hits = None, None
        for ox, oy in candidates:
            far = abs(ox) + abs(oy) > 20
            ann = ax.annotate(words[i], tuple(coords[i]), xytext=(ox, oy), textcoords="offset points", fontsize=fontsize,
                              ha="left" if ox >= 0 else "right", va="bottom" if oy >= 0 else "top",
                              arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.4} if far else None)
            box = ann.get_window_extent(renderer).expanded(1.05, 1.1)
            hits = sum(box.overlaps(b) for b in placed)
            hits += sum(box.contains(px, py) for j, (px, py) in enumerate(point_boxes) if j != i)
            if best_hits is None or hits < best_hits:
                if best is not None:
                    best[0].remove()
                best, best_hits = (ann, box), hits
                if hits == 0:
                    break
            else:
                ann.remove()
        placed.append(best[1])
        failed += int(best_hits > 0)
    return failed


def plot_states_cities(
    embeddings: Mapping[str, Any],
    vocab: Sequence[str] | Any,
    pairs: Sequence[tuple[str, str]],
    path: str | Path,
    *,
    title: str | None = None,
    annotate: bool = True,
    normalize: bool = True,
) -> dict[str, Any]:
    """One PCA panel per entry of ``embeddings`` (e.g. ``{"NTK": E0, "width 64": E1, "limit": E2}``).

    ``pairs`` are ``(state, city)`` words (see :func:`places.states_and_cities`). Saves a PNG at
    ``path`` and returns ``{"path", "pairs", "panels": {name: {"explained", "separation_2d",
    "separation_full"}}}``.
    """
    from infwidth.plotting import plt, save_figure

    index = vocab.index if isinstance(getattr(vocab, "index", None), dict) else {w: i for i, w in enumerate(vocab)}
    pairs = [(s, c) for s, c in pairs if s in index and c in index]
    if len(pairs) < 2:
        raise UserError(
            f"only {len(pairs)} state/city pair(s) are in the vocabulary; use a larger corpus or vocabulary"
        )
    if not embeddings:
        raise UserError("no embeddings given to plot; pass at least one {name: matrix}")
    states = [s for s, _ in pairs]
    cities = [c for _, c in pairs]
    rows = np.array([index[w] for w in states + cities])
    labels = np.array([False] * len(states) + [True] * len(cities))

    fig, axes = plt.subplots(1, len(embeddings), figsize=(5.2 * len(embeddings), 5.0), squeeze=False)
    panels: dict[str, Any] = {}
    for ax, (name, emb) in zip(axes[0], embeddings.items(), strict=True):
        mat = _as_numpy(emb)
        if mat.ndim != 2 or mat.shape[0] != len(index):
            raise UserError(f"embeddings {name!r} have shape {mat.shape}; expected ({len(index)}, n)")
        norms = np.linalg.norm(mat[rows], axis=1, keepdims=True)
        units = mat[rows] / np.where(norms > 0, norms, 1.0)
        coords, explained = pca_2d(units if normalize else mat[rows])
        panels[name] = {
            "explained": explained.tolist(),
            "separation_2d": loo_similarity_accuracy(coords, labels),
            "separation_full": loo_similarity_accuracy(units, labels),
        }
        k = len(states)
        for i in range(k):
            ax.plot(coords[[i, k + i], 0], coords[[i, k + i], 1], color="0.85", lw=0.6, zorder=1)
        ax.scatter(coords[:k, 0], coords[:k, 1], c="tab:blue", marker="o", s=22, label="states", zorder=2)
        ax.scatter(coords[k:, 0], coords[k:, 1], c="tab:orange", marker="^", s=22, label="cities", zorder=2)
        if annotate:
            panels[name]["label_overlaps"] = place_labels(ax, coords, states + cities)
        ax.set_title(f"{name}\n{separation_text(panels[name])}", fontsize=9)
        ax.set_xlabel(f"PC1 ({100 * explained[0]:.0f}% var)")
        ax.set_ylabel(f"PC2 ({100 * explained[1]:.0f}% var)")
        ax.legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title)
    out = save_figure(fig, path)
    return {"path": out, "pairs": [list(p) for p in pairs], "panels": panels}
