"""dynaflip-report on real result folders: policy results with their rollouts.jsonl (bootstrap intervals, paired
gains, IQM, probability of improvement, calibration rows, n, the smallest detectable difference), older
folders without episodes (honest fallbacks), probe results old ("r2") and new ("score" with a "median" row),
figures, and forward latency measured on this machine."""

import json
import math

import numpy as np
import pytest

from dynaflip.eval.report.power import main as power_main
from dynaflip.eval.report_cli import main
from dynaflip.eval.results import ResultRow, write_results
from dynaflip.eval.stats import t_interval
from dynaflip.eval.stats.power import mde_factor
from tests.helpers.policy_results import (
    CALIBRATION,
    SPECS,
    SPLITS,
    TASKS,
    make_outcomes,
    probe_rows,
    tiny_encoder,
    write_pair,
    write_policy,
)

LABELS = ("vit_tiny_patch16_224 (random) seed=0", "vit_tiny_patch16_224 (random) seed=1")
PNG = b"\x89PNG\r\n\x1a\n"
SEEDS, EPISODES = 3, 10
# Success probability per (split, task): id, lighting, occlusion x reach, button-press.
RATES = {
    "oracle:state": [[0.95, 0.95]] * 3,
    "blind": [[0.1, 0.15]] * 3,
    SPECS[0]: [[0.5, 0.6], [0.35, 0.45], [0.3, 0.4]],
    SPECS[1]: [[0.6, 0.7], [0.5, 0.6], [0.45, 0.55]],
}


def _episode_seeds(episodes=EPISODES, seeds=SEEDS):
    """Each BC seed its own episode seeds (the same for every encoder)."""
    return np.array([[[10_000 + 1000 * s + e for e in range(episodes)] for s in range(seeds)]] * len(TASKS))


def _r2(base: float) -> dict:
    return {
        (probe, split): [base + 0.05 * p - 0.1 * s + 0.01 * seed for seed in range(3)]
        for p, probe in enumerate(("ee_pos", "object_pos"))
        for s, split in enumerate(SPLITS)
    }


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """Calibration folders first (so the default baseline must skip them), then two tiny encoders, each with a
    policy folder (results.json + rollouts.jsonl) and a probe result. Outcomes share uniform draws across
    encoders: an episode that is hard for one is hard for all (correlated, as real rollouts are)."""
    root = tmp_path_factory.mktemp("results")
    shared = np.random.default_rng(0).random((len(SPLITS), len(TASKS), SEEDS, EPISODES))
    outcomes = {
        spec: make_outcomes(np.array(rates), episode_seeds=_episode_seeds(), shared=shared)
        for spec, rates in RATES.items()
    }
    write_policy(root / "0-oracle", encoder=CALIBRATION["oracle:state"], outcomes=outcomes["oracle:state"])
    write_policy(root / "1-blind", encoder=CALIBRATION["blind"], outcomes=outcomes["blind"])
    encoders = {}
    for name, spec, base in (("a", SPECS[0], 0.6), ("b", SPECS[1], 0.7)):
        encoders[spec] = tiny_encoder(spec)
        write_policy(root / name / "policy", encoder=encoders[spec], outcomes=outcomes[spec])
        write_results(
            root / name / "probe" / "results.json",
            kind="probe",
            encoder=encoders[spec],
            config={"seeds": 3},
            rows=probe_rows(_r2(base)),
            timing={"seconds": 3.0},
        )
    return root, outcomes


def _intervals(value, path=""):
    """Every (path, low, high) in a report.json."""
    if isinstance(value, dict):
        if "low" in value and "high" in value:
            yield path, value["low"], value["high"]
        for key, item in value.items():
            yield from _intervals(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _intervals(item, f"{path}/{index}")


def test_report_shows_calibration_rows_bootstrap_intervals_n_and_paired_gains(suite, capsys):
    root, outcomes = suite
    out = root.parent / "report"
    assert main([str(root), "--out", str(out), "--resamples", "1000"]) == 0
    assert "4 encoders" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    roles = {entry["label"]: entry["role"] for entry in report["encoders"]}
    assert roles == {"oracle (state)": "ceiling", "blind": "floor", LABELS[0]: None, LABELS[1]: None}
    assert report["baseline"] == LABELS[0]  # the first encoder that is not a calibration run
    assert list(report["gains"]["policy/success"]) == [LABELS[1]]  # calibration rows are not competitors

    table = next(t for t in report["tables"] if t["kind"] == "policy")
    assert table["splits"] == [*SPLITS, "ood mean"]
    for label, cells in table["cells"].items():
        for split, cell in cells.items():
            assert 0.0 <= cell["low"] < cell["high"] <= 1.0, (label, split, cell)
            assert cell["n"] == {
                "tasks": 2,
                "seeds": 3,
                "episodes": 10,
                **({"shifts": 2} if split == "ood mean" else {}),
            }
    mine, base = outcomes[SPECS[1]], outcomes[SPECS[0]]
    for split in SPLITS:  # the gain is the difference of success over the same episodes, paired
        gain = report["gains"]["policy/success"][LABELS[1]][split]
        expected = mine.split(split).mean() - base.split(split).mean()
        assert gain["mean"] == pytest.approx(expected) and gain["method"] == "paired bootstrap"
        assert -1.0 <= gain["low"] < gain["mean"] < gain["high"] <= 1.0
    ood = report["gains"]["policy/success"][LABELS[1]]["ood mean"]
    assert ood["mean"] == pytest.approx(np.mean([mine.split(s).mean() - base.split(s).mean() for s in SPLITS[1:]]))

    policy = report["policy"]
    comparison = policy["comparisons"][LABELS[1]]["id"]
    assert 0.5 < comparison["improvement_probability"]["estimate"] <= 1.0 and comparison["paired"]
    assert comparison["minimum_detectable_difference"] == pytest.approx(mde_factor() * comparison["standard_error"])
    iqm = policy["aggregates"][LABELS[1]]["id"]["iqm"]
    assert 0.0 <= iqm["low"] < iqm["high"] <= 1.0
    instrument = policy["instrument"]["ood mean"]["difference"]
    assert instrument["low"] > 0.5  # the ceiling-floor gap is resolved by the intervals
    for path, low, high in _intervals(report):  # never a zero-width interval anywhere
        assert (low is None and high is None) or low < high, path

    markdown = (out / "report.md").read_text()
    for text in (
        "oracle (state) *(calibration: ceiling)*",
        "blind *(calibration: floor)*",
        "2 tasks x 3 seeds x 10 episodes",
        "IQM",
        "P(improvement)",
        "Instrument range",
        "MDE",
        "paired bootstrap",
        "hierarchical bootstrap",
        "## probe / r2",
        "## Methods",
    ):
        assert text in markdown, text
    assert markdown.index("## policy / success") < markdown.index("## probe / r2")
    for name in ("id_vs_ood.png", "ood_gain.png"):
        assert (out / name).read_bytes()[:8] == PNG


def test_power_command_prints_the_minimum_detectable_difference(suite, capsys):
    root, _ = suite
    assert power_main([str(root), "--resamples", "500", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    pairs = {(row["comparison"], row["split"]): row for row in rows}
    row = pairs[(f"{LABELS[1]} - {LABELS[0]}", "ood mean")]
    assert row["pairing"] == "paired" and row["mde"] == pytest.approx(mde_factor() * row["standard_error"])
    assert 0.0 < row["mde"] < 0.5 and row["n"] == "2 tasks x 3 seeds x 10 episodes x 2 shifts"
    assert ("oracle (state) - blind (instrument range)", "id") in pairs
    # One evaluation alone: sqrt(2) x its SE (an encoder of the same variance, unpaired).
    assert power_main([str(root / "a" / "policy"), "--resamples", "500"]) == 0
    text = capsys.readouterr().out
    assert "(alone)" in text and "2.80 x SE" in text


def test_policy_results_without_episodes_fall_back_honestly(tmp_path, capsys):
    success = {
        (task, split): [0.5 + 0.1 * t - 0.1 * s + 0.05 * seed for seed in range(3)]
        for t, task in enumerate(TASKS)
        for s, split in enumerate(SPLITS)
    }
    other = {key: [value + 0.1 for value in values] for key, values in success.items()}
    other[(TASKS[0], "id")] = [0.067] * 3  # identical seed values: the old "6.7 [6.7, 6.7]"
    write_pair(tmp_path / "a", spec=SPECS[0], success=success, r2=_r2(0.6), policy_seeds=[0, 1, 2])
    write_pair(tmp_path / "b", spec=SPECS[1], success=other, r2=_r2(0.7), policy_seeds=[0, 1, 2])
    assert main([str(tmp_path), "--out", str(tmp_path / "report")]) == 0
    assert "no rollouts.jsonl beside results.json" in capsys.readouterr().err
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    gains = report["gains"]["policy/success"][LABELS[1]]
    assert all(gain["method"] == "combined in quadrature" for gain in gains.values())  # never paired by BC seed
    probe_gain = report["gains"]["probe/r2"][LABELS[1]]["id"]
    # Without episodes.json (older probe runs) never a t over seeds: the recorded intervals, combined.
    assert probe_gain["method"] == "combined in quadrature, not paired: no episodes.json beside a probe results.json"
    table = next(t for t in report["tables"] if t["kind"] == "policy")
    assert table["cells"][LABELS[0]]["id"]["method"] == "t-interval over 3 seeds"
    task_row = ResultRow.from_values(group="mean", split="id", metric="success", values=[0.067] * 3)
    assert not task_row.has_interval
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "intervals as recorded in results.json" in markdown
    for path, low, high in _intervals(report):
        assert (low is None and high is None) or low < high, path


def test_too_few_episodes_give_no_interval_said_plainly(tmp_path):
    shared = np.random.default_rng(1).random((len(SPLITS), len(TASKS), 2, 1))
    for name, spec, rate in (("a", SPECS[0], 0.4), ("b", SPECS[1], 0.6)):
        outcomes = make_outcomes(
            np.full((3, 2), rate), episode_seeds=_episode_seeds(episodes=1, seeds=2), shared=shared
        )
        write_policy(tmp_path / name, encoder=tiny_encoder(spec), outcomes=outcomes)
    assert main([str(tmp_path), "--out", str(tmp_path / "report"), "--resamples", "200"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    cell = next(t for t in report["tables"] if t["kind"] == "policy")["cells"][LABELS[0]]["id"]
    assert cell["low"] is None and cell["method"] == "no interval: n too small (4 episodes; at least 10)"
    raw = (tmp_path / "a" / "results.json").read_text()  # strict JSON: a missing interval is null, not NaN
    rows = json.loads(raw, parse_constant=lambda name: pytest.fail(f"results.json holds {name}"))["rows"]
    assert all(row["low"] is None and "n too small" in row["interval"] for row in rows)
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "(n too small)" in markdown and "2 tasks x 2 seeds x 1 episode" in markdown


def test_probe_score_median_is_the_headline_and_rmse_is_shown(tmp_path):
    encoder = tiny_encoder(SPECS[0])
    rows = []
    for split in ("id", "lighting"):
        scores = {"ee_pos": [0.8, 0.82, 0.81], "object_pos": [0.4, 0.45, 0.5], "flow": [-3.0, -2.5, -2.8]}
        for probe, values in scores.items():
            rows.append(ResultRow(probe, split, "score", float(np.mean(values)), np.mean(values) - 0.1, 1.2, values))
        rows.append(ResultRow("median", split, "score", 0.45, 0.3, 0.6, [0.4, 0.45, 0.5]))
        rows.append(ResultRow("ee_pos", split, "rmse_cm", 2.5, -0.5, 4.0, [2.4, 2.5, 2.6]))  # below 0: clipped
        rows.append(ResultRow("task", split, "accuracy", 0.9, math.nan, math.nan, [0.9, 0.9, 0.9]))
    write_results(
        tmp_path / "p" / "results.json", kind="probe", encoder=encoder, config={"seeds": 3}, rows=rows, timing={}
    )
    assert main([str(tmp_path / "p"), "--out", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    tables = {t["metric"]: t for t in report["tables"]}
    label = report["encoders"][0]["label"]
    assert list(tables) == ["score", "rmse_cm", "accuracy"]
    cell = tables["score"]["cells"][label]["id"]
    assert cell["mean"] == 0.45 and (cell["low"], cell["high"]) == (0.3, 0.6)  # the median row
    assert tables["rmse_cm"]["cells"][label]["id"]["low"] == 0.0  # an error is never below 0
    assert tables["accuracy"]["cells"][label]["id"]["low"] is None
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "## probe / score, higher is better" in markdown and "## probe / rmse_cm (cm), lower is better" in markdown


def test_corrupt_or_incomplete_rollouts_are_counted_or_fall_back(tmp_path, capsys):
    shared = np.random.default_rng(2).random((len(SPLITS), len(TASKS), SEEDS, EPISODES))
    outcomes = make_outcomes(np.full((3, 2), 0.5), episode_seeds=_episode_seeds(), shared=shared)
    write_policy(tmp_path / "a", encoder=tiny_encoder(SPECS[0]), outcomes=outcomes)
    rollouts = tmp_path / "a" / "rollouts.jsonl"
    rollouts.write_text(rollouts.read_text() + "{not json\n")
    assert main([str(tmp_path / "a"), "--out", str(tmp_path / "r1"), "--resamples", "200"]) == 0
    assert "1 unreadable line(s) of rollouts.jsonl skipped" in capsys.readouterr().err
    cells = json.loads((tmp_path / "r1" / "report.json").read_text())["tables"][0]["cells"]
    cell = next(iter(cells.values()))["id"]
    assert cell["method"].startswith("bootstrap")
    rollouts.write_text("".join(line + "\n" for line in rollouts.read_text().splitlines()[5:]))
    assert main([str(tmp_path / "a"), "--out", str(tmp_path / "r2"), "--resamples", "200"]) == 0
    assert "intervals as recorded in results.json" in capsys.readouterr().err


def test_bad_input_gives_one_clear_line(suite, capsys, tmp_path):
    root, _ = suite
    (tmp_path / "empty").mkdir()
    broken = tmp_path / "broken" / "results.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    cases = [
        ([str(tmp_path / "missing")], "no such file or folder"),
        ([str(tmp_path / "empty")], "no results.json"),
        ([str(broken)], "cannot read a result file"),
        ([str(root / "a"), "--baseline", "dinov2"], "--baseline 'dinov2': no such encoder"),
        ([str(root), "--baseline", "oracle:state"], "calibration ceiling"),
        ([str(root / "a"), str(root / "a" / "policy" / "results.json"), "--device", "tpu", "--latency"], "--device"),
    ]
    for argv, message in cases:
        assert main([*argv, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.startswith("dynaflip-report: error:") and len(err.strip().splitlines()) == 1


def test_two_results_of_one_kind_for_one_encoder_are_refused(suite, capsys, tmp_path):
    root, _ = suite
    copy = tmp_path / "copy" / "results.json"
    copy.parent.mkdir()
    copy.write_text((root / "a" / "policy" / "results.json").read_text())
    assert main([str(root / "a"), str(copy), "--out", str(tmp_path / "out")]) == 2
    assert "already has policy results" in capsys.readouterr().err


def test_latency_is_measured_and_an_unloadable_encoder_gets_none(suite, capsys, tmp_path):
    root, _ = suite
    out = tmp_path / "report"
    calibration = [str(root / "0-oracle"), str(root / "1-blind")]  # no image, so no latency row
    argv = [*calibration, str(root / "a"), str(root / "b"), "--out", str(out), "--latency", "--latency-runs", "2"]
    assert main([*argv, "--resamples", "200"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["latency"]) == set(LABELS)
    for label in LABELS:
        records = report["latency"][label]["records"]
        assert {(r["device"], r["batch"]) for r in records} == {("cpu", 1), ("cpu", 32)}
        assert all(r["median_ms"] > 0 and r["image_size"] == 32 and len(r["runs_ms"]) == 2 for r in records)
    assert "## Forward latency" in (out / "report.md").read_text()
    path = tmp_path / "bad" / "results.json"
    data = json.loads((root / "a" / "probe" / "results.json").read_text())
    data["encoder"]["spec"] = "random:no_such_model_xyz"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    capsys.readouterr()
    assert (
        main([str(path), "--out", str(tmp_path / "out"), "--latency", "--latency-runs", "1", "--device", "cuda"]) == 0
    )
    err = capsys.readouterr().err
    assert "no latency for" in err and "no_such_model_xyz" in err


def test_probe_gains_without_episodes_are_never_a_t_over_seeds(suite, tmp_path):
    root, _ = suite
    assert main([str(root / "a"), str(root / "b"), "--out", str(tmp_path / "r"), "--resamples", "200"]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    gain = report["gains"]["probe/r2"][LABELS[1]]["lighting"]
    # Per-seed r2 differ by exactly 0.1: the old paired t would claim [0.1, 0.1] (none); the recorded
    # intervals of the two encoders, combined, keep the uncertainty of the episodes they were measured on.
    assert gain["mean"] == pytest.approx(0.1) and gain["low"] < 0.1 < gain["high"]
    assert gain["method"].startswith("combined in quadrature")
    assert not t_interval([0.1, 0.1, 0.1]).has_interval


def test_no_variation_gives_no_detectable_difference_rather_than_zero(tmp_path, capsys):
    # Two encoders that fail every episode: every resample gives a difference of 0, so SE is 0 and the design's
    # power cannot be sized from these outcomes; an MDE of 0 would claim any difference is detectable.
    shared = np.random.default_rng(0).random((len(SPLITS), len(TASKS), SEEDS, EPISODES))
    zeros = make_outcomes(np.zeros((len(SPLITS), len(TASKS))), episode_seeds=_episode_seeds(), shared=shared)
    for name, spec in (("a", SPECS[0]), ("b", SPECS[1])):
        write_policy(tmp_path / name, encoder=tiny_encoder(spec), outcomes=zeros)
    assert power_main([str(tmp_path), "--resamples", "200", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and all(row["standard_error"] == 0.0 and row["mde"] is None for row in rows)
    assert power_main([str(tmp_path), "--resamples", "200"]) == 0
    assert "n/a (no variation)" in capsys.readouterr().out
    assert main([str(tmp_path), "--out", str(tmp_path / "report"), "--resamples", "200"]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    comparisons = report["policy"]["comparisons"]
    differences = [item for by_split in comparisons.values() for item in by_split.values()]
    assert differences and all(item["minimum_detectable_difference"] is None for item in differences)
