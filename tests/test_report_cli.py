"""dynaflip-report on real result files of two tiny encoders (same architecture, different weights):
tables, paired and combined gains, figures, and forward latency measured on this machine."""

import json
import math

import pytest

from dynaflip.eval.report_cli import main
from dynaflip.eval.stats import mean_interval
from tests.helpers.policy_results import SPECS, SPLITS, TASKS, write_pair

LABELS = ("vit_tiny_patch16_224 (random) seed=0", "vit_tiny_patch16_224 (random) seed=1")

PNG = b"\x89PNG\r\n\x1a\n"


def _success(base: float, step: float) -> dict:
    """Per-seed success rates per (task, split): seeds differ by ``step``, shifts lower the rate."""
    return {
        (task, split): [round(min(1.0, base + 0.1 * t - 0.2 * s + step * seed), 2) for seed in range(3)]
        for t, task in enumerate(TASKS)
        for s, split in enumerate(SPLITS)
    }


def _r2(base: float) -> dict:
    return {
        (probe, split): [base + 0.05 * p - 0.1 * s + 0.01 * seed for seed in range(3)]
        for p, probe in enumerate(("ee_pos", "object_pos"))
        for s, split in enumerate(SPLITS)
    }


@pytest.fixture
def results(tmp_path):
    first = write_pair(tmp_path / "a", spec=SPECS[0], success=_success(0.5, 0.1), r2=_r2(0.6), policy_seeds=[0, 1, 2])
    second = write_pair(tmp_path / "b", spec=SPECS[1], success=_success(0.6, 0.05), r2=_r2(0.7), policy_seeds=[0, 1, 2])
    return tmp_path, first, second


def _mean_values(success, split):
    return [sum(values) / len(TASKS) for values in zip(*(success[(t, split)] for t in TASKS), strict=True)]


def test_report_from_two_encoders_with_latency(results, capsys):
    root, first, second = results
    out = root / "report"
    assert main([str(root / "a"), str(root / "b" / "policy" / "results.json"), str(root / "b" / "probe"),
                 "--out", str(out), "--latency", "--latency-runs", "2"]) == 0  # fmt: skip
    assert "2 encoders" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    labels = [entry["label"] for entry in report["encoders"]]
    assert labels == list(LABELS) and first["name"] == second["name"]  # same name: the spec tells them apart
    assert [entry["identity"] for entry in report["encoders"]] == [first["identity"], second["identity"]]
    assert [entry["spec"] for entry in report["encoders"]] == list(SPECS)
    assert report["baseline"] == LABELS[0] and report["kinds"] == ["policy", "probe"]
    tables = {(t["kind"], t["metric"]): t for t in report["tables"]}
    assert set(tables) == {("policy", "success"), ("probe", "r2"), ("probe", "mse")}
    assert tables[("policy", "success")]["splits"] == [*SPLITS, "ood mean"]
    assert tables[("probe", "mse")]["lower_is_better"] and not tables[("probe", "r2")]["lower_is_better"]

    # Policy gains are paired per seed (same seeds recorded): the t-interval of the per-seed differences.
    a, b = _success(0.5, 0.1), _success(0.6, 0.05)
    gains = report["gains"]["policy/success"][LABELS[1]]
    for split in SPLITS[1:]:
        differences = [y - x for x, y in zip(_mean_values(a, split), _mean_values(b, split), strict=True)]
        expected = mean_interval(differences)
        assert gains[split]["method"] == "paired" and gains[split]["pairs"] == 3
        assert [gains[split][k] for k in ("mean", "low", "high")] == pytest.approx(expected)
    ood = [sum(_mean_values(b, s)[seed] - _mean_values(a, s)[seed] for s in SPLITS[1:]) / 2 for seed in range(3)]
    assert gains["ood mean"]["method"] == "paired" and gains["ood mean"]["mean"] == pytest.approx(sum(ood) / 3)
    # Probes have no "mean" row: the split's number averages the probes per seed.
    cell = tables[("probe", "r2")]["cells"][LABELS[0]]["id"]
    assert cell["mean"] == pytest.approx((0.6 + 0.65) / 2 + 0.01) and "per-seed" in cell["method"]
    scores = report["control_scores"]["probe/r2"]
    assert scores[LABELS[1]]["id"] == 1.0 and scores[LABELS[0]]["id"] == 0.0
    assert report["control_scores"]["probe/mse"][LABELS[1]]["id"] == 1.0  # lower mse is better

    for label in LABELS:
        records = report["latency"][label]["records"]
        assert {(r["device"], r["batch"]) for r in records} == {("cpu", 1), ("cpu", 32)}
        assert all(r["median_ms"] > 0 and r["image_size"] == 32 and len(r["runs_ms"]) == 2 for r in records)
    markdown = (out / "report.md").read_text()
    for text in ("## policy / success (%)", "Gain over", "paired", "## Forward latency", "batch 32 (ms)", "ood mean"):
        assert text in markdown
    for name in ("id_vs_ood.png", "ood_gain.png"):
        assert (out / name).read_bytes()[:8] == PNG


def test_unpaired_seeds_combine_the_two_intervals(tmp_path):
    a, b = _success(0.5, 0.1), _success(0.6, 0.05)
    write_pair(tmp_path / "a", spec=SPECS[0], success=a, r2=_r2(0.6), policy_seeds=[0, 1, 2])
    write_pair(tmp_path / "b", spec=SPECS[1], success=b, r2=_r2(0.7), policy_seeds=[7, 8, 9])
    assert main([str(tmp_path), "--out", str(tmp_path / "report"), "--baseline", SPECS[1]]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["baseline"] == LABELS[1] and "latency" not in report  # --baseline matched the spec
    gain = report["gains"]["policy/success"][LABELS[0]]["id"]
    mine, base = mean_interval(_mean_values(a, "id")), mean_interval(_mean_values(b, "id"))
    assert gain["method"] == "combined" and gain["mean"] == pytest.approx(mine[0] - base[0])
    below = math.hypot(mine[0] - mine[1], base[2] - base[0])
    assert gain["low"] == pytest.approx(mine[0] - base[0] - below)
    assert report["gains"]["probe/r2"][LABELS[0]]["id"]["method"] == "paired"  # probe seeds 0..2 on both sides
    assert (tmp_path / "report" / "ood_gain.png").read_bytes()[:8] == PNG


def test_bad_input_gives_one_clear_line(results, capsys, tmp_path):
    root, _, _ = results
    (tmp_path / "empty").mkdir()
    broken = tmp_path / "broken" / "results.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    cases = [
        ([str(tmp_path / "missing")], "no such file or folder"),
        ([str(tmp_path / "empty")], "no results.json"),
        ([str(broken)], "cannot read a result file"),
        ([str(root / "a"), "--baseline", "dinov2"], "--baseline 'dinov2': no such encoder"),
        ([str(root / "a"), str(root / "a" / "policy" / "results.json"), "--device", "tpu", "--latency"], "--device"),
    ]
    for argv, message in cases:
        assert main([*argv, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.startswith("dynaflip-report: error:") and len(err.strip().splitlines()) == 1


def test_two_results_of_one_kind_for_one_encoder_are_refused(results, capsys, tmp_path):
    root, _, _ = results
    copy = tmp_path / "copy" / "results.json"
    copy.parent.mkdir()
    copy.write_text((root / "a" / "policy" / "results.json").read_text())
    assert main([str(root / "a"), str(copy), "--out", str(tmp_path / "out")]) == 2
    assert "already has policy results" in capsys.readouterr().err


def test_an_encoder_that_cannot_be_loaded_gets_no_latency_but_a_report(results, capsys):
    root, _, _ = results
    path = root / "a" / "policy" / "results.json"
    data = json.loads(path.read_text())
    data["encoder"]["spec"] = "random:no_such_model_xyz"
    path.write_text(json.dumps(data))
    assert main([str(path), "--out", str(root / "out"), "--latency", "--latency-runs", "1", "--device", "cuda"]) == 0
    err = capsys.readouterr().err
    assert "no latency for" in err and "no_such_model_xyz" in err
    report = json.loads((root / "out" / "report.json").read_text())
    assert "error" in report["latency"][report["baseline"]]
