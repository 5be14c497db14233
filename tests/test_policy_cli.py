"""dynaflip-policy end to end on one Meta-World task: real demos, BC training, rollouts in worker
processes, result files; a second run with another BC seed reuses the cached demos and features."""

import json

import pytest

pytest.importorskip("mujoco")
pytest.importorskip("metaworld")

from dynaflip.eval.policy_cli import main
from dynaflip.eval.results import read_results
from dynaflip.sim import SHIFTS
from tests.helpers.policy_settings import QUICK_CONFIG, TASK, TINY_ENCODER, tiny_overrides


def _run(out, cache, capsys, **changes):
    code = main(["run", "--encoder", TINY_ENCODER, "--out", str(out), "--config", QUICK_CONFIG, "--no-progress",
                 *tiny_overrides(cache, **changes)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out, read_results(out / "results.json")


def _cache_files(cache):
    return {path: path.stat().st_mtime_ns for path in cache.rglob("*") if path.suffix in (".npz", ".npy")}


def test_one_task_end_to_end_then_cached_demos_and_features(tmp_path, capsys):
    cache = tmp_path / "cache"
    out, results = _run(tmp_path / "first", cache, capsys)
    splits = ["id", *sorted(SHIFTS)]
    assert results["kind"] == "policy" and results["encoder"]["spec"] == TINY_ENCODER
    rows = {(row.group, row.split): row for row in results["rows"]}
    assert set(rows) == {(group, split) for group in (TASK, "mean", "iqm") for split in splits}
    for row in results["rows"]:
        assert row.metric == "success"
        # One rollout per (task, split): too few episodes for an interval, said in the row.
        assert 0.0 <= row.mean <= 1.0 and not row.has_interval and "n too small" in row.interval
        assert len(row.values) == 1 and 0.0 <= row.values[0] <= 1.0
    config = results["config"]
    assert not set(config["demo_seeds"]) & set(config["episode_seeds"]), "evaluation seeds must differ from demo seeds"
    assert config["seeds"] == [0] and config["splits"][0] == "id" and sorted(config["splits"]) == sorted(splits)
    assert (
        config["episode_seeds_by_policy_seed"] == {"0": [10_000]} and "per_policy_seed" in config["episode_seed_scheme"]
    )
    timing = results["timing"]
    assert timing["demos_recorded"] == 4 and timing["features_computed"] == 4 and timing["rollouts"] == len(splits)
    assert timing["rollouts_per_second"] > 0 and "rollouts/s" in out and "wall time" in out
    episodes = [json.loads(line) for line in (tmp_path / "first" / "rollouts.jsonl").read_text().splitlines()]
    assert sorted(e["split"] for e in episodes) == sorted(splits)
    assert all(1 <= e["steps"] <= 40 and e["episode_seed"] == 10_000 for e in episodes)
    markdown = (tmp_path / "first" / "results.md").read_text()
    assert "| task | id | camera |" in markdown and f"| {TASK} |" in markdown and "| **mean** |" in markdown
    assert (tmp_path / "first" / "policy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = json.loads((tmp_path / "first" / "run.json").read_text())
    assert run["training"][0]["task"] == TASK and run["training"][0]["val_loss"] >= 0
    assert (tmp_path / "first" / "policies" / TASK / "seed0.pt").is_file()

    before = _cache_files(cache)
    assert len(before) == 8  # 4 demos + their 4 feature arrays
    # Another BC seed, in-process this time (workers=1), ID only: nothing is rendered or encoded again.
    _, again = _run(tmp_path / "second", cache, capsys, bc__seeds="[1]", rollout__shifts="[]", runtime__workers=1)
    timing = again["timing"]
    assert timing["demos_recorded"] == 0 and timing["demos_cached"] == 4
    assert timing["features_computed"] == 0 and timing["features_cached"] == 4
    assert _cache_files(cache) == before
    assert {row.split for row in again["rows"]} == {"id"} and again["config"]["seeds"] == [1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--encoder", "random:no_such_model_xyz"], "encoder 'random:no_such_model_xyz'"),
        (["--encoder", "/no/such/export/folder"], "encoder '/no/such/export/folder'"),
        (["tasks=[pick-place-v2]"], "did you mean pick-place-v3"),
        (["rollout.shifts=[fog]"], "shift: expected one of"),
        (["bc.epoch=3"], "unknown config key 'bc.epoch' (did you mean epochs?)"),
        (["rollout.seed=2"], "evaluation seeds must differ from demonstration seeds"),
        (["bc.select=last", "demos.validation=0", "bc.hidden=[]"], "bc.hidden"),
    ],
)
def test_bad_input_gives_one_clear_line(tmp_path, capsys, argv, message):
    encoder = [] if "--encoder" in argv else ["--encoder", TINY_ENCODER]
    code = main(["run", *encoder, "--out", str(tmp_path / "out"), "--config", QUICK_CONFIG, *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.startswith("dynaflip-policy: error:") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_missing_config_file_and_print_config(tmp_path, capsys):
    assert main(["run", "--encoder", TINY_ENCODER, "--out", str(tmp_path), "--config", str(tmp_path / "x.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main(["run", "--encoder", "x", "--out", str(tmp_path), "--config", QUICK_CONFIG, "--print-config"]) == 0
    assert "sweep-into-v3" in capsys.readouterr().out
