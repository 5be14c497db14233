"""Representation health of a feature matrix: is the information spread over many directions, or has the
encoder collapsed it onto a few (design note method.md section 6)?

Three numbers for (N, D) features of N frames:

- ``effective_rank``: exp of the entropy of the normalised singular values of the centred features
  (Roy & Vetterli 2007). Isotropic features give ~D; features on one line give 1.
- ``pc1_share``: the share of the variance on the first principal component after each dimension is
  standardised (so one large-scale dimension cannot dominate by its units). Isotropic: ~1/D; a line: 1.
- ``consecutive_ratio``: the mean distance between consecutive frames of one episode over the mean distance
  between any two frames. Near 0: neighbouring frames are indistinguishable next to the spread of the set
  (the features became a slow clock); near 1: consecutive frames are as far apart as random ones.

Pure NumPy on purpose: the trainer, the probe command and the tests call the same functions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# A dimension whose std is below this fraction of the largest std is constant for the standardised share:
# scaling float noise up to unit variance would invent a direction.
CONSTANT_DIMENSION = 1e-6
PAIR_CHUNK = 1024  # rows per block when averaging all pairwise distances


@dataclass(frozen=True)
class HealthMetrics:
    """The three health numbers of one feature matrix, with its shape."""

    effective_rank: float
    pc1_share: float
    consecutive_ratio: float | None  # None: no episode has two frames
    frames: int
    width: int

    def to_json(self) -> dict[str, float | int | None]:
        return asdict(self)

    def line(self) -> str:
        ratio = "n/a" if self.consecutive_ratio is None else f"{self.consecutive_ratio:.3f}"
        return (
            f"effective rank {self.effective_rank:.2f} of {self.width}, first-PC share {self.pc1_share:.1%}, "
            f"consecutive/random distance {ratio} ({self.frames} frames)"
        )


def _matrix(features: np.ndarray) -> np.ndarray:
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
        raise ValueError(f"features: expected an (N, D) matrix with N >= 2 and D >= 1, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("features: contain NaN or infinite values")
    return array


def effective_rank(features: np.ndarray) -> float:
    """exp(H(p)) with p the singular values of the centred (N, D) features divided by their sum."""
    array = _matrix(features)
    singular = np.linalg.svd(array - array.mean(axis=0), compute_uv=False)
    total = singular.sum()
    if total <= 0:
        return 0.0  # every frame has the same features: no direction at all
    p = singular[singular > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def pc1_share(features: np.ndarray) -> float:
    """Variance share of the first principal component of the per-dimension standardised features
    (constant dimensions left out). 1.0 for features on one line; ~1/D for isotropic features."""
    array = _matrix(features)
    centred = array - array.mean(axis=0)
    std = centred.std(axis=0)
    keep = std > CONSTANT_DIMENSION * max(float(std.max()), 1e-300)
    if not keep.any():
        return 1.0  # all frames equal: whatever spread there is sits on (at most) one direction
    standardised = centred[:, keep] / std[keep]
    variances = np.linalg.svd(standardised, compute_uv=False) ** 2
    return float(variances[0] / variances.sum())


def mean_pairwise_distance(features: np.ndarray) -> float:
    """The mean Euclidean distance over all pairs of distinct rows (exact, in blocks)."""
    array = _matrix(features)
    n = array.shape[0]
    squared = (array * array).sum(axis=1)
    total = 0.0
    for start in range(0, n, PAIR_CHUNK):
        block = array[start : start + PAIR_CHUNK]
        d2 = squared[start : start + PAIR_CHUNK, None] + squared[None, :] - 2.0 * block @ array.T
        d2[np.arange(len(block)), np.arange(start, start + len(block))] = 0.0  # a row with itself: float residue
        total += float(np.sqrt(np.clip(d2, 0.0, None)).sum())
    return total / (n * (n - 1))


def consecutive_pairs(episode_ids: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (a, b) of frames that follow each other in one episode (by ``order``, ties kept stable)."""
    episode_ids, order = np.asarray(episode_ids), np.asarray(order)
    if episode_ids.shape != order.shape or episode_ids.ndim != 1:
        raise ValueError(
            f"episode_ids / order: expected two (N,) arrays of the same length, got {episode_ids.shape} and "
            f"{order.shape}"
        )
    sort = np.lexsort((order, episode_ids))
    same = episode_ids[sort][1:] == episode_ids[sort][:-1]
    return sort[:-1][same], sort[1:][same]


def consecutive_ratio(features: np.ndarray, *, episode_ids: np.ndarray, order: np.ndarray) -> float | None:
    """Mean distance of consecutive frames of one episode / mean distance over all pairs of frames;
    None when no episode has two frames."""
    array = _matrix(features)
    if len(episode_ids) != array.shape[0]:
        raise ValueError(f"episode_ids: expected {array.shape[0]} entries (one per row), got {len(episode_ids)}")
    first, second = consecutive_pairs(episode_ids, order)
    if len(first) == 0:
        return None
    random_pairs = mean_pairwise_distance(array)
    if random_pairs <= 0:
        return None  # every frame equal: no scale to compare with
    return float(np.linalg.norm(array[first] - array[second], axis=1).mean() / random_pairs)


def health_metrics(
    features: np.ndarray, *, episode_ids: np.ndarray | None = None, order: np.ndarray | None = None
) -> HealthMetrics:
    """All three numbers; ``episode_ids`` and ``order`` (N,) give the consecutive-frame ratio (else None)."""
    array = _matrix(features)
    ratio = None
    if episode_ids is not None:
        order = np.arange(array.shape[0]) if order is None else order
        ratio = consecutive_ratio(array, episode_ids=np.asarray(episode_ids), order=np.asarray(order))
    return HealthMetrics(
        effective_rank=effective_rank(array),
        pc1_share=pc1_share(array),
        consecutive_ratio=ratio,
        frames=int(array.shape[0]),
        width=int(array.shape[1]),
    )


@dataclass(frozen=True)
class CollapseRule:
    """When to call a run collapsed, against the same network at step 0: its effective rank fell below
    ``rank_fraction`` of step 0's, or its first-PC share rose above both ``pc1_share`` and step 0's share."""

    rank_fraction: float = 0.5
    pc1_share: float = 0.5

    def reasons(self, current: HealthMetrics, initial: HealthMetrics | None) -> list[str]:
        """Why ``current`` counts as collapsed (empty: it does not)."""
        reasons = []
        if initial is not None and current.effective_rank < self.rank_fraction * initial.effective_rank:
            reasons.append(
                f"effective rank {current.effective_rank:.2f} < {self.rank_fraction:g} x step 0's "
                f"{initial.effective_rank:.2f}"
            )
        floor = self.pc1_share if initial is None else max(self.pc1_share, initial.pc1_share)
        if current.pc1_share > floor:
            reasons.append(f"first-PC share {current.pc1_share:.1%} > {floor:.1%}")
        return reasons
