"""Real result files of two tiny encoders, written with write_results: a probe result (no "mean" group, a
value per seed, as dynaflip-probe writes) and a policy result (tasks + "mean", as dynaflip-policy writes)."""

from pathlib import Path

from dynaflip.eval.encoders import load_eval_encoder
from dynaflip.eval.results import ResultRow, encoder_summary, write_results
from dynaflip.eval.stats import wilson_interval

TINY = "random:vit_tiny_patch16_224?img_size=32&patch_size=8&depth=1&embed_dim=48&num_heads=3"
SPECS = (f"{TINY}&seed=0", f"{TINY}&seed=1")  # same architecture and name, different weights
SPLITS = ("id", "lighting", "occlusion")
TASKS = ("reach-v3", "button-press-topdown-v3")


def policy_rows(success: dict[tuple[str, str], list[float]], *, episodes: int = 10) -> list[ResultRow]:
    """Rows from per-seed success rates per (task, split), aggregated like dynaflip-policy does."""
    rows = []
    for split in SPLITS:
        for task in TASKS:
            rates = success[(task, split)]
            rate, low, high = wilson_interval(round(sum(rates) * episodes), episodes * len(rates))
            rows.append(
                ResultRow(group=task, split=split, metric="success", mean=rate, low=low, high=high, values=rates)
            )
        per_seed = [sum(values) / len(TASKS) for values in zip(*(success[(t, split)] for t in TASKS), strict=True)]
        rows.append(ResultRow.from_values(group="mean", split=split, metric="success", values=per_seed))
    return rows


def probe_rows(r2: dict[tuple[str, str], list[float]]) -> list[ResultRow]:
    rows = []
    for (probe, split), values in r2.items():
        rows.append(ResultRow.from_values(group=probe, split=split, metric="r2", values=values))
        mse = [1.0 - value for value in values]
        rows.append(ResultRow.from_values(group=probe, split=split, metric="mse", values=mse))
    return rows


def write_pair(root: Path, *, spec: str, success: dict, r2: dict, policy_seeds: list[int]) -> dict:
    """Write ROOT/policy/results.json and ROOT/probe/results.json for the encoder ``spec``."""
    encoder = encoder_summary(load_eval_encoder(spec))
    write_results(
        root / "policy" / "results.json",
        kind="policy",
        encoder=encoder,
        config={"seeds": policy_seeds, "tasks": list(TASKS)},
        rows=policy_rows(success),
        timing={"seconds": 12.5, "rollouts_per_second": 0.8},
    )
    write_results(
        root / "probe" / "results.json",
        kind="probe",
        encoder=encoder,
        config={"seeds": 3},
        rows=probe_rows(r2),
        timing={"seconds": 3.0},
    )
    return encoder
