"""Policy transfer in Meta-World: frozen encoder + proprioception -> MLP trained by behaviour cloning on
scripted-expert demos, evaluated by rollouts in distribution and under render-time OOD shifts.

One concept per module: :mod:`.config` (settings), :mod:`.demos` (expert demos, cached), :mod:`.features`
(demo features, cached per encoder), :mod:`.model` (the BC policy), :mod:`.training`, :mod:`.rollout` (one
episode), :mod:`.workers` (processes), :mod:`.evaluate` (the loop), :mod:`.aggregate`, :mod:`.tables` and
:mod:`.plots` (results), :mod:`.state_encoders` (the calibration rows ``oracle:state`` and ``blind``) and
:mod:`.calibrate` (which tasks can tell encoders apart). The command line is ``dynaflip-policy``
(:mod:`dynaflip.eval.policy_cli`).
"""

from .aggregate import success_rows
from .config import ID_SPLIT, PolicyConfig, validate
from .demos import Demo, DemoStore, record_demo
from .evaluate import PolicyRun, run_policy_eval
from .features import demo_features, open_encoder
from .model import BCPolicy
from .rollout import PolicyActor, RolloutRecord, expert_actor, run_episode
from .state_encoders import BLIND_SPEC, ORACLE_SPEC, StateEncoder, load_state_encoder
from .training import BCData, TrainSummary, train_bc
from .workers import RolloutJob, WorkerPool, WorkerSettings, rollout_job

__all__ = [
    "BLIND_SPEC",
    "ID_SPLIT",
    "ORACLE_SPEC",
    "BCData",
    "BCPolicy",
    "Demo",
    "DemoStore",
    "PolicyActor",
    "PolicyConfig",
    "PolicyRun",
    "RolloutJob",
    "RolloutRecord",
    "StateEncoder",
    "TrainSummary",
    "WorkerPool",
    "WorkerSettings",
    "demo_features",
    "expert_actor",
    "load_state_encoder",
    "open_encoder",
    "record_demo",
    "rollout_job",
    "run_episode",
    "run_policy_eval",
    "success_rows",
    "train_bc",
    "validate",
]
