"""Calibration "encoders" that read the simulator instead of the image: the instrument's ceiling and floor.

``oracle:state`` feeds the behaviour-cloning MLP Meta-World's own 39-d goal-observable observation (hand
position and gripper, the task objects' positions and quaternions, the same of the previous step, and the
goal position) in place of image features: what a perfect encoder could at best extract. The goal is in it
because the simulator is built from Meta-World's goal-observable constructor; in the partially observable
mode the last three numbers would be zeros and reach-like tasks would be unsolvable from state.
``blind`` gives no features at all, so the policy sees proprioception only (end-effector xyz and gripper):
what a policy achieves without looking. A task on which the oracle fails, or the blind policy succeeds,
cannot tell encoders apart.

Neither looks at a frame, so their demos and rollouts are never rendered (physics only), while episodes,
seeds and shifts stay those of every image encoder: a shift is render-only, so a state policy's shifted
rollout is its in-distribution one by construction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

ORACLE_SPEC = "oracle:state"
BLIND_SPEC = "blind"
STATE_SPECS = (ORACLE_SPEC, BLIND_SPEC)
OBSERVATION_DIM = 39  # Meta-World v3's goal-observable observation
OBSERVATION_LAYOUT = "metaworld-v3-goal-observable-obs39"  # part of the identity: features depend on it


@dataclass
class StateEncoder:
    """The interface of :class:`~dynaflip.eval.encoders.EvalEncoder` that the policy evaluation uses, fed
    with (T, 39) simulator observations instead of images."""

    name: str
    spec: str
    feature_dim: int
    identity: str = field(default="")
    kind: str = "state"
    last_n: int = 1

    def __post_init__(self) -> None:
        if not self.identity:
            self.identity = hashlib.sha256(f"{self.spec}|{OBSERVATION_LAYOUT}".encode()).hexdigest()[:16]

    @property
    def needs_image(self) -> bool:
        return False

    @property
    def parameters(self) -> int:
        return 0

    def state_features(self, observations: np.ndarray) -> np.ndarray:
        """(T, feature_dim) float32 features of (T, 39) observations."""
        observations = np.asarray(observations, dtype=np.float32)
        if observations.ndim != 2 or observations.shape[1] != OBSERVATION_DIM:
            raise ValueError(
                f"encoder '{self.spec}': expected (T, {OBSERVATION_DIM}) observations, got {observations.shape}"
            )
        if self.feature_dim == 0:
            return np.zeros((observations.shape[0], 0), dtype=np.float32)
        return observations.copy()


def is_state_spec(spec: str) -> bool:
    return spec in STATE_SPECS


def load_state_encoder(spec: str) -> StateEncoder:
    """The calibration encoder of ``spec`` (``oracle:state`` or ``blind``)."""
    if spec == ORACLE_SPEC:
        return StateEncoder(name="oracle (state)", spec=spec, feature_dim=OBSERVATION_DIM)
    if spec == BLIND_SPEC:
        return StateEncoder(name="blind", spec=spec, feature_dim=0)
    raise ValueError(f"encoder '{spec}': expected one of {list(STATE_SPECS)}")
