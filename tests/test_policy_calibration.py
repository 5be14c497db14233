"""The policy instrument's ceiling and floor through the real CLI: oracle:state (the simulator's state through
the same BC) succeeds on a calibrated task and blind (proprioception only) scores lower, on the same paired
episodes, without rendering a frame; `dynaflip-policy calibrate` judges, records and resumes."""

import json

import numpy as np
import pytest

pytest.importorskip("mujoco")
pytest.importorskip("metaworld")

from dynaflip.eval.policy_cli import main
from dynaflip.eval.results import read_results
from tests.helpers.policy_settings import QUICK_CONFIG, TASK, TINY_ENCODER, tiny_overrides

# A task of the calibrated quick suite (configs/eval/calibration/quick.md: oracle 20/20, blind 2/20, random
# 2/20), at the calibration's BC recipe (25 + 5 demos, 100 epochs), one BC seed, 10 episodes of up to 120
# steps (the oracle's successes there came at steps 46-61). State only: no frame is rendered.
CALIBRATED_TASK = "pick-place-v3"
RECORD_FIELDS = {"task", "split", "policy_seed", "episode_seed", "success", "steps", "success_step", "seconds"}


def _run(spec, out, cache, capsys):
    code = main([
        "run", "--encoder", spec, "--out", str(out), "--config", QUICK_CONFIG, "--no-progress",
        f"tasks=[{CALIBRATED_TASK}]", "bc.seeds=[0]", "rollout.episodes=10", "rollout.horizon=120",
        "rollout.shifts=[occlusion]", "runtime.workers=1",
        f"runtime.cache_dir={cache}",
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    records = [json.loads(line) for line in (out / "rollouts.jsonl").read_text().splitlines()]
    return read_results(out / "results.json"), records


@pytest.mark.slow
def test_oracle_succeeds_and_blind_scores_lower_on_a_calibrated_task(tmp_path, capsys):
    cache = tmp_path / "cache"
    oracle, oracle_records = _run("oracle:state", tmp_path / "oracle", cache, capsys)
    blind, blind_records = _run("blind", tmp_path / "blind", cache, capsys)
    assert oracle["encoder"]["spec"] == "oracle:state" and blind["encoder"]["spec"] == "blind"
    assert oracle["encoder"]["parameters"] == 0 and oracle["kind"] == blind["kind"] == "policy"

    def success(records, split):
        outcomes = [record["success"] for record in records if record["split"] == split]
        assert len(outcomes) == 10
        return sum(outcomes) / len(outcomes)

    assert success(oracle_records, "id") >= 0.8, "the oracle reaches the calibration threshold"
    assert success(blind_records, "id") < success(oracle_records, "id"), "blind is below the oracle"
    for records in (oracle_records, blind_records):
        assert all(set(record) == RECORD_FIELDS for record in records)
        # A shift is render-only and a state policy never sees a render: its shifted episodes are its ID ones.
        by_split = {
            split: [(r["episode_seed"], r["success"], r["steps"]) for r in records if r["split"] == split]
            for split in ("id", "occlusion")
        }
        assert by_split["id"] == by_split["occlusion"]

    # Paired across encoders on (task, split, BC seed, episode seed).
    def pairing(records):
        return {(r["task"], r["split"], r["policy_seed"], r["episode_seed"]) for r in records}

    keys = [pairing(oracle_records), pairing(blind_records)]
    assert keys[0] == keys[1] and len(keys[0]) == 20
    assert oracle["config"]["episode_seed_scheme"].startswith("per_policy_seed")
    # Nothing was rendered: the demos are physics-only recordings without frames.
    demos = sorted((cache / "demos").glob("*/*/*.npz"))
    assert demos and all("-state-" in path.parent.parent.name for path in demos)
    assert not (cache / "features").exists(), "no image features were computed"


def test_calibrate_judges_records_and_resumes(tmp_path, capsys):
    out, cache = tmp_path / "calibration", tmp_path / "cache"
    settings = [override for override in tiny_overrides(cache, runtime__workers=1) if not override.startswith("tasks=")]
    base = ["calibrate", "--out", str(out), "--config", QUICK_CONFIG, "--no-progress", *settings,
            f"calibration.candidates=[{TASK}]", f"calibration.random_encoder={TINY_ENCODER}",
            "calibration.oracle_min=0.0"]  # fmt: skip
    assert main([*base, "calibration.roles=[oracle]"]) == 0
    first = json.loads((out / "calibration.json").read_text())
    assert first["pending"] == [TASK] and set(first["tasks"][0]["scores"]) == {"oracle"}
    capsys.readouterr()

    assert main([*base, "calibration.random_max=1.0"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "calibration.json").read_text())
    scores = result["tasks"][0]["scores"]
    assert set(scores) == {"oracle", "blind", "random"} and scores["oracle"]["reused"]
    assert not scores["random"]["reused"] and scores["random"]["spec"] == TINY_ENCODER
    for score in scores.values():
        assert score["rollouts"] == 1 and 0.0 <= score["low"] < score["high"] <= 1.0  # never zero width
        assert score["rate"] == score["successes"] / score["rollouts"]
    assert result["kept"] == [TASK] and f"kept 1: {TASK}" in printed  # thresholds 0 and 1 keep anything
    random_results = read_results(out / "runs" / "random" / TASK / "results.json")
    assert random_results["encoder"]["spec"] == TINY_ENCODER
    markdown = (out / "calibration.md").read_text()
    assert f"| {TASK} |" in markdown and "kept" in markdown and "64 px" in markdown

    # A stricter threshold on the same evidence: every run is reused, only the verdict changes.
    assert main([*base, "calibration.random_max=0.0"]) == 0
    strict = json.loads((out / "calibration.json").read_text())
    assert all(score["reused"] for score in strict["tasks"][0]["scores"].values())
    random_rate = strict["tasks"][0]["scores"]["random"]["rate"]
    assert (strict["kept"] == []) == (random_rate > 0.0)
    if random_rate > 0.0:
        assert strict["rejected"][TASK].startswith("random")


def test_state_demos_are_the_rendered_demos_without_frames(tmp_path):
    from dynaflip.eval.policy import DemoStore
    from dynaflip.eval.policy.features import FeatureStats, demo_features, open_encoder

    options = {"camera": "corner", "image_size": (64, 64), "max_steps": 200}
    rendered, physics = DemoStore(tmp_path, **options), DemoStore(tmp_path, **options, render=False)
    assert physics.setting != rendered.setting and "-state-" in physics.setting
    with_frames, without = rendered.record(TASK, 0), physics.record(TASK, 0)
    assert without.rgb is None and with_frames.rgb.shape[1:] == (64, 64, 3)
    for name in ("actions", "proprio", "state", "success"):  # rendering never touches physics
        np.testing.assert_array_equal(getattr(with_frames, name), getattr(without, name))
    np.testing.assert_array_equal(without.state[:, :3], without.proprio[:, :3])  # obs[:3] is the hand
    features, _ = demo_features(
        open_encoder("oracle:state"), physics, None, task=TASK, seeds=[0], batch_size=8, stats=FeatureStats()
    )
    np.testing.assert_array_equal(features[0], without.state)
    # A demo file written before observations were stored: the oracle says what to do, in one line.
    old = physics.path(TASK, 1)
    np.savez_compressed(old, **{name: getattr(without, name) for name in ("proprio", "actions", "success")})
    with pytest.raises(ValueError, match="no simulator observations"):
        demo_features(open_encoder("oracle:state"), physics, None, task=TASK, seeds=[1], batch_size=8)


def test_calibrate_help_and_the_files_it_names(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", "--help"])
    assert exit_info.value.code == 0 and "usage:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "calibrate" in text and "oracle:state" in text and "configs/eval/calibrate-quick.yaml" in text


def test_a_failed_run_is_recorded_and_the_calibration_goes_on(tmp_path, capsys):
    out, cache = tmp_path / "calibration", tmp_path / "cache"
    settings = [o for o in tiny_overrides(cache, runtime__workers=1) if not o.startswith("tasks=")]
    from dynaflip.eval.policy import DemoStore

    corrupt = DemoStore(cache, camera="corner", image_size=(64, 64), max_steps=200, render=False).path(TASK, 0)
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"not a zip")  # a corrupt cached demo of the first candidate
    code = main(["calibrate", "--out", str(out), "--config", QUICK_CONFIG, "--no-progress", *settings,
                 f"calibration.candidates=[{TASK}, reach-v3]", "calibration.roles=[oracle]"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "1 runs failed" in err and "not a readable demo file" in err
    result = json.loads((out / "calibration.json").read_text())
    assert len(result["errors"]) == 1 and result["errors"][0].startswith(f"{TASK} oracle")
    scores = {task["task"]: task["scores"] for task in result["tasks"]}
    assert scores[TASK] == {} and set(scores["reach-v3"]) == {"oracle"}  # the next candidate still ran
