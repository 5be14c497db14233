"""Probe evaluation: linear read-outs of control-relevant state from frozen features, in and out of
distribution (``dynaflip-probe``).

- :mod:`.build` / :mod:`.episode`: probe datasets from Meta-World scripted-expert episodes with ground truth;
- :mod:`.dataset` / :mod:`.manifest`: reading them (``dataset.json`` + one npz per split);
- :mod:`.linear` / :mod:`.sweep`: the linear probe (PCA-conditioned inputs, clipped outputs) and its
  validation sweep; :mod:`.metrics`: the skill score, RMSE, R², accuracy;
- :mod:`.scoring` / :mod:`.bootstrap`: result rows with intervals over test episodes and probe seeds;
- :mod:`.runner`: one encoder's whole probe suite; :mod:`.report` / :mod:`.plot`: results.md and probes.png.
"""

from __future__ import annotations

from .build import BuildSettings, BuildSummary, build_probe_dataset
from .dataset import ProbeDataset
from .linear import LinearProbe
from .manifest import ProbeDataError
from .metrics import accuracy, mse, r2_score, skill_score
from .runner import ProbeRun, run_probes
from .sweep import SweepConfig, fit_probe
from .targets import PROBES, SUITES, ProbeSpec, resolve_suites

__all__ = [
    "PROBES",
    "SUITES",
    "BuildSettings",
    "BuildSummary",
    "LinearProbe",
    "ProbeDataError",
    "ProbeDataset",
    "ProbeRun",
    "ProbeSpec",
    "SweepConfig",
    "accuracy",
    "build_probe_dataset",
    "fit_probe",
    "mse",
    "r2_score",
    "resolve_suites",
    "run_probes",
    "skill_score",
]
