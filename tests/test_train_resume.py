"""A safe resume: a checkpoint carries the fingerprint of its run (the config keys that change the model,
objective, data and schedule, and the shards' manifests); resuming it with another lr, objective or data is
refused in one line naming the changed keys, before any step, unless the change is accepted explicitly.
The run folder keeps every start's config. Exact resume of the same config is in test_train_loop.py."""

import json
import shutil
import subprocess

import pytest
import yaml

from dynaflip.train.config import TrainConfig
from dynaflip.train.fingerprint import ResumeMismatch, changed_keys, check_resume, flatten, run_fingerprint
from tests.helpers.shards import write_synthetic_shards
from tests.helpers.training import REPO, environment, metrics, run_training, train_command


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("resume-shards"), shards=2, per_shard=8)


@pytest.fixture(scope="module")
def other_shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("other-shards"), shards=2, per_shard=8, prefix="other")


def common(shards, out, *extra):
    return [
        f"data.shards=[{{path: {shards}}}]",
        f"runtime.output_dir={out}",
        "data.batch_size=4",
        "model.grid_size=4",
        "data.workers=0",
        "runtime.steps=4",
        "runtime.checkpoint_every=100",
        *extra,
    ]


@pytest.fixture(scope="module")
def stopped_run(shards, tmp_path_factory):
    """A run of 4 steps stopped after 2 (as a time-sliced job is), ready to resume."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    run_training(common(shards, out, "runtime.stop_after=2"))
    return out


def resume(run_dir, args, *extra):
    return subprocess.run(
        train_command([*args, "--resume", "auto", *extra]),
        capture_output=True,
        text=True,
        env=environment(),
        cwd=REPO,
        timeout=300,
    )


def copy_run(stopped_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    return run


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (["optim.lr=0.5"], ["optim.lr: 0.0003 -> 0.5"]),
        (["objective.lambda_act=0"], ["objective.lambda_act: 1.0 -> 0.0"]),
        ("other data", ["data.shards[0].path: "]),
    ],
)
def test_resume_of_another_run_is_refused_naming_the_keys(change, named, stopped_run, shards, other_shards, tmp_path):
    run = copy_run(stopped_run, tmp_path)
    args = common(other_shards, run) if change == "other data" else common(shards, run, *change)
    result = resume(run, args)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    line = lines[0]
    assert f"{run / 'checkpoints' / 'step-00000002'}: written by another run; changed:" in line
    for text in named:
        assert text in line
    assert "--resume-allow " in line and ", " not in line.split("--resume-allow ")[1]  # one shell word
    # Before any step: nothing trained, nothing written.
    assert sorted(metrics(run)) == [1, 2]
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-00000002"]
    assert not (run / "config-history").exists()
    assert yaml.safe_load((run / "config.yaml").read_text())["optim"]["lr"] == pytest.approx(3e-4)


def test_resume_after_the_shards_were_extracted_again_is_refused(tmp_path):
    data = write_synthetic_shards(tmp_path / "shards", shards=2, per_shard=8)
    run = tmp_path / "run"
    run_training(common(data, run, "runtime.stop_after=1"))
    manifest = json.loads((data / "manifest.json").read_text())
    (data / "manifest.json").write_text(json.dumps({**manifest, "settings": {"sampling.grid_size": 8}}))
    result = resume(run, common(data, run))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "changed: shards[0].manifest_sha256: " in result.stderr
    assert "--resume-allow shards[0].manifest_sha256" in result.stderr


def test_harmless_changes_resume_and_the_config_history_is_kept(stopped_run, shards, tmp_path):
    run = copy_run(stopped_run, tmp_path)
    # Logging keys never count; data.workers changes the data order, so it needs the flag.
    args = common(shards, run, "runtime.log_every=2", "data.workers=1")
    refused = resume(run, args)
    assert refused.returncode == 2 and "data.workers: 0 -> 1" in refused.stderr
    assert "log_every" not in refused.stderr
    result = resume(run, args, "--resume-allow", "data.workers")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed from {run / 'checkpoints' / 'step-00000002'}" in result.stderr
    assert "accepted change: data.workers: 0 -> 1" in result.stderr
    assert sorted(metrics(run)) == [1, 2, 4]  # steps 3-4 trained (logged every 2)
    assert json.loads((run / "checkpoints" / "step-00000004" / "trainer_state.json").read_text())["step"] == 4
    first = yaml.safe_load((run / "config.yaml").read_text())
    second_text = (run / "config-history" / "config.2.yaml").read_text()
    second = yaml.safe_load(second_text)
    assert (first["data"]["workers"], first["runtime"]["log_every"]) == (0, 1)
    assert (second["data"]["workers"], second["runtime"]["log_every"]) == (1, 2)
    assert second_text.startswith("# start 2 of this run folder") and "resumed from" in second_text.splitlines()[0]


def test_accepted_change_that_alters_the_model_fails_in_one_line(stopped_run, shards, tmp_path):
    run = copy_run(stopped_run, tmp_path)
    result = resume(run, common(shards, run, "objective.lambda_act=0"), "--resume-allow", "objective")
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("dynaflip-train: error:")]
    assert len(errors) == 1 and "does not fit the model this config builds" in errors[0]
    assert not (run / "config-history").exists()  # a start that failed leaves no history entry


def fingerprint(**overrides):
    from dynaflip.config import apply_overrides, from_dict, to_dict

    data = apply_overrides(to_dict(TrainConfig()), [f"{k}={v}" for k, v in overrides.items()])
    return run_fingerprint(from_dict(TrainConfig, data), manifests=[{"samples": 16, "manifest_sha256": "a" * 64}])


def test_fingerprint_keys_and_messages(tmp_path):
    base = fingerprint()
    assert "optim.lr" in base["keys"] and "shards[0].manifest_sha256" in base["keys"]
    assert not any(key.startswith(("runtime.log_every", "runtime.output_dir", "recipe")) for key in base["keys"])
    assert fingerprint(**{"runtime.log_every": 7, "runtime.output_dir": "x"})["sha256"] == base["sha256"]
    assert fingerprint(**{"runtime.steps": 7})["sha256"] != base["sha256"]
    assert flatten({"a": {"b": [1, 2]}, "s": [{"p": 1}]}) == {"a.b": [1, 2], "s[0].p": 1}
    assert changed_keys({"x": 1, "gone": 2}, {"x": 3, "new": 4}) == [
        "gone: 2 -> (unset)",
        "new: (unset) -> 4",
        "x: 1 -> 3",
    ]
    where = tmp_path / "step-1"
    changed = fingerprint(**{"optim.lr": 0.5, "optim.warmup_steps": 3})
    with pytest.raises(ResumeMismatch, match=r"optim.lr: 0.0001 -> 0.5; optim.warmup_steps: 500 -> 3.*allow optim.lr,"):
        check_resume(base, changed, checkpoint=where)
    assert len(check_resume(base, changed, checkpoint=where, allow=("optim",))) == 2
    with pytest.raises(ResumeMismatch, match=r"optim\.warmup_steps"):
        check_resume(base, changed, checkpoint=where, allow=("optim.lr",))
    # A checkpoint from before a key existed: the key at its default is no change; without a fingerprint at all,
    # (older checkpoints) the resume proceeds.
    older = {**base, "keys": {k: v for k, v in base["keys"].items() if k != "optim.grad_clip"}}
    assert check_resume(older, base, checkpoint=where) == []
    assert check_resume(None, changed, checkpoint=where) == []
