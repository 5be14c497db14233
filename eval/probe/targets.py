"""The probes as data: which label each one reads, how it is scored, and the suites that group them.

Probes follow the "control-relevant score" of Dong et al. (ICLR 2026): light (linear) read-outs of
state that a controller needs, trained on frozen features. Regression targets are in metres (the gripper
opening is a fraction in [0, 1]); ``future_flow`` is scored only where its validity mask is set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REGRESSION = "regression"
CLASSIFICATION = "classification"


@dataclass(frozen=True)
class ProbeSpec:
    """One probe: a label key of the dataset (and its mask key, if any) and how it is learnt."""

    name: str
    kind: str  # REGRESSION or CLASSIFICATION
    label: str
    mask: str | None
    description: str

    @property
    def metrics(self) -> tuple[str, ...]:
        """The result-row metrics of this probe (see :mod:`.scoring`; position probes add ``rmse_cm``)."""
        return ("score",) if self.kind == REGRESSION else ("accuracy",)

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]

    def target(self, labels: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, O) float32 targets (or (N,) int64 classes) and an (N, O) bool mask or None."""
        values = np.asarray(labels[self.label])
        count = len(values)
        if self.kind == CLASSIFICATION:
            return values.astype(np.int64).reshape(count), None
        target = values.astype(np.float32).reshape(count, -1)
        if self.mask is None:
            return target, None
        mask = np.asarray(labels[self.mask], dtype=bool).reshape(count, -1)
        if mask.shape[1] != target.shape[1]:  # one flag per point covers its 3 coordinates
            mask = np.repeat(mask, target.shape[1] // mask.shape[1], axis=1)
        return target, mask


PROBES: dict[str, ProbeSpec] = {
    spec.name: spec
    for spec in (
        ProbeSpec("ee_pos", REGRESSION, "ee_pos", None, "end-effector (hand) position, world frame, metres"),
        ProbeSpec("gripper", REGRESSION, "gripper", None, "gripper opening in [0, 1] (1 = open)"),
        ProbeSpec("object_pos", REGRESSION, "object_pos", None, "main task object position, world frame, metres"),
        ProbeSpec(
            "future_flow",
            REGRESSION,
            "flow",
            "flow_valid",
            "3D displacement of the query grid's surface points h steps ahead, reference camera frame, metres",
        ),
        ProbeSpec("task", CLASSIFICATION, "task", None, "task identity (index into dataset.json 'tasks')"),
    )
}

SUITES: dict[str, tuple[str, ...]] = {
    "control": ("ee_pos", "gripper", "object_pos"),
    "flow": ("future_flow",),
    "task": ("task",),
}


def resolve_suites(suites: str | list[str] | tuple[str, ...]) -> list[ProbeSpec]:
    """The probes of comma-separated suite names, in suite order; an unknown name raises ValueError."""
    names = [name.strip() for name in suites.split(",")] if isinstance(suites, str) else [s.strip() for s in suites]
    names = [name for name in names if name]
    if not names:
        raise ValueError(f"--suites: expected one or more of {', '.join(SUITES)}, got nothing")
    probes: list[ProbeSpec] = []
    for name in names:
        if name not in SUITES:
            raise ValueError(f"--suites: unknown suite {name!r} (expected some of {', '.join(SUITES)})")
        probes += [PROBES[probe] for probe in SUITES[name] if PROBES[probe] not in probes]
    return probes
