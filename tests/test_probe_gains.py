"""Probe gains over a baseline: the paired bootstrap over test episodes and probe seeds (episodes.json beside each
probe results.json), its coverage on simulated probe results, and dynaflip-report using it."""

import json
import math

import numpy as np
import pytest

from dynaflip.eval.probe.sums import PAIRED_METHOD, EpisodeSums, paired_difference, point
from dynaflip.eval.report_cli import main
from dynaflip.eval.results import ResultRow, write_results
from dynaflip.eval.stats.probe_coverage import KEY, probe_coverage_study, simulate_probe_study
from tests.helpers.policy_results import SPECS, tiny_encoder


def test_paired_probe_gain_covers_the_true_gain_at_about_the_nominal_rate():
    result = probe_coverage_study(studies=300, samples=1000, seed=0, episodes=8, seeds=3)
    assert 0.89 <= result.paired_coverage <= 0.99, result
    # The old interval (a t over 3 per-seed differences) ignores the test episodes: far too narrow.
    assert result.seed_t_coverage < 0.8 and result.seed_t_width < result.paired_width, result


def test_pairing_on_shared_episodes_is_narrower_than_combining_the_two_intervals():
    rng = np.random.default_rng(5)
    study = simulate_probe_study(rng, episodes=8, seeds=3, episode_share=0.6, encoder_episode_share=0.05)
    paired = paired_difference(study.first, study.second, KEY, samples=1000)
    assert paired.method == PAIRED_METHOD and paired.n == {"tasks": 3, "seeds": 3, "episodes": 8}
    assert paired.estimate == pytest.approx(point(study.first, KEY) - point(study.second, KEY))
    zero = EpisodeSums(
        tasks=study.first.tasks,
        episode_seeds=study.first.episode_seeds,
        seeds=3,
        rows={KEY: {"correct": np.zeros((3, 24)), "frames": study.first.rows[KEY]["frames"]}},
    )
    own = [paired_difference(sums, zero, KEY, samples=1000) for sums in (study.first, study.second)]
    combined = math.hypot(*(side.high - side.low for side in own))
    assert paired.high - paired.low < 0.8 * combined
    other = EpisodeSums(study.second.tasks, [s + 1 for s in study.second.episode_seeds], 3, study.second.rows)
    with pytest.raises(ValueError, match="different test episodes"):
        paired_difference(study.first, other, KEY)


def _write_probe(folder, *, spec, sums):
    mean = point(sums, KEY)
    rows = [ResultRow("task", "id", "accuracy", mean, mean - 0.2, min(1.0, mean + 0.2), [mean] * sums.seeds)]
    encoder = tiny_encoder(spec)
    write_results(
        folder / "results.json", kind="probe", encoder=encoder, config={"seeds": sums.seeds}, rows=rows, timing={}
    )
    sums.write(folder / "episodes.json")


def test_report_pairs_probe_gains_on_the_episodes_and_refuses_a_broken_episodes_file(tmp_path, capsys):
    study = simulate_probe_study(np.random.default_rng(1), episodes=8, seeds=2)
    _write_probe(tmp_path / "b", spec=SPECS[1], sums=study.first)
    _write_probe(tmp_path / "a", spec=SPECS[0], sums=study.second)
    assert main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r"), "--resamples", "500"]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    label = report["encoders"][1]["label"]
    gain = report["gains"]["probe/accuracy"][label]["id"]
    expected = paired_difference(study.first, study.second, KEY, samples=500)
    assert gain["method"] == PAIRED_METHOD
    assert (gain["mean"], gain["low"], gain["high"]) == pytest.approx((expected.estimate, expected.low, expected.high))
    assert gain["n"] == {"tasks": 3, "seeds": 2, "episodes": 8}
    assert PAIRED_METHOD in (tmp_path / "r" / "report.md").read_text()
    (tmp_path / "b" / "episodes.json").write_text("{not json")
    capsys.readouterr()
    assert main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "episodes.json: unreadable" in err[0]
