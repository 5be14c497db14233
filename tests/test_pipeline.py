"""The pipeline driver behind dynaflip-demo and dynaflip-study: its config, resumable timed steps, and
publishing trained runs as registry entries whose weights ship with the package."""

import json
import os
import sys
from pathlib import Path

import pytest
import torch

import dynaflip
from dynaflip.config import ConfigError, dump_yaml, from_dict, load_config
from dynaflip.hub.checksum import file_sha256
from dynaflip.hub.errors import ChecksumError
from dynaflip.hub.registry import load_registry
from dynaflip.pipeline.config import Arm, PipelineConfig
from dynaflip.pipeline.publish import NotACheckout, checkout_registry, install, publish
from dynaflip.pipeline.recipes import find_recipe, shipped_recipes
from dynaflip.pipeline.run import policy_encoders, pretraining_data
from dynaflip.pipeline.steps import StepRunner
from tests.helpers.hub_checkpoint import checkpoint_encoder, features, make_run

REPO = Path(__file__).resolve().parents[1]


def test_arms_name_one_run_per_seed_and_the_baseline_resolves_to_a_run():
    config = PipelineConfig(
        arms=[Arm(name="dynaflip", seeds=[0, 1]), Arm(name="image-only", overrides=["objective.lambda_act=0"])],
        policy=from_dict(PipelineConfig, {"policy": {"calibration": ["oracle:state", "blind"]}}).policy,
    )
    assert list(config.run_names()) == ["dynaflip-s0", "dynaflip-s1", "image-only"]
    assert config.baseline_run() == "image-only"
    encoders = policy_encoders(config, Path("runs"))
    assert encoders["oracle-state"] == "oracle:state" and encoders["blind"] == "blind"
    assert encoders["dynaflip-s1"].endswith("runs/dynaflip-s1/export") and "random" in encoders


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"arms": []}, "at least one pre-training arm"),
        ({"arms": [{"name": "a"}, {"name": "a"}], "baseline": "a"}, "each arm name once"),
        ({"arms": [{"name": "a", "seeds": [1, 1]}], "baseline": "a"}, "distinct seeds"),
        ({"arms": [{"name": "random"}], "baseline": "random"}, "clash"),
        ({"baseline": "clip"}, "baseline: expected an arm or run name"),
        ({"publish": [{"run": "nope", "name": "x", "tag": "y"}]}, "publish: run 'nope'"),
    ],
)
def test_bad_pipeline_configs_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(PipelineConfig, data)


def test_pretraining_data_is_the_runs_own_extraction_or_data_shards_as_given(tmp_path, monkeypatch):
    """A study can pre-train on shards that live elsewhere: a URL prefix goes to the trainer and the visualiser
    untouched (their remote reading is tested against real servers in test_remote_shards.py), a relative
    folder is resolved against the working directory the run starts in."""
    out = tmp_path / "run"
    assert pretraining_data(PipelineConfig(), out) == out / "data" / "metaworld"
    url = "s3://bucket/dynaflip/metaworld"
    assert pretraining_data(from_dict(PipelineConfig, {"data": {"shards": url}}), out) == url
    monkeypatch.chdir(tmp_path)
    local = pretraining_data(from_dict(PipelineConfig, {"data": {"shards": "shards/mw"}}), out)
    assert local == tmp_path / "shards" / "mw"


def test_a_config_path_is_taken_as_written_when_it_exists_else_looked_up_among_the_shipped_recipes(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    shipped = shipped_recipes()
    assert find_recipe("configs/demo-ci.yaml") == str(shipped / "demo-ci.yaml")
    assert find_recipe("demo-ci.yaml") == find_recipe("demo-ci") == str(shipped / "demo-ci.yaml")
    assert find_recipe("study/ci") == str(shipped / "study" / "ci.yaml")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "demo-ci.yaml").write_text("output_dir: mine\n")  # the user's own file wins
    assert find_recipe("configs/demo-ci.yaml") == "configs/demo-ci.yaml"
    with pytest.raises(ConfigError, match=r"^configs/nope\.yaml: config file not found here nor among the shipped"):
        find_recipe("configs/nope.yaml")
    with pytest.raises(ConfigError, match="not found"):
        find_recipe("../demo-ci.yaml")  # never a file outside the shipped folder


@pytest.mark.parametrize("name", ["demo.yaml", "paper.yaml", "study/cpu.yaml", "study/gpu.yaml"])
def test_recipes_pre_train_on_tasks_they_do_not_evaluate(name):
    from dynaflip.eval.policy.config import PolicyConfig

    config = load_config(PipelineConfig, files=[find_recipe(f"configs/{name}")])
    policy = load_config(PolicyConfig, files=[find_recipe(config.policy.config)], overrides=config.policy.overrides)
    evaluated = set(policy.tasks) | set(config.probe.tasks)
    assert config.probe.tasks and not set(config.data.tasks) & evaluated  # transfer, as in the paper
    assert set(config.policy.calibration) == {"oracle:state", "blind"}  # every table shows ceiling and floor


def test_a_finished_step_is_skipped_on_a_rerun_and_timed_once(tmp_path, capsys):
    marker = tmp_path / "out.txt"
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x')"]
    first = StepRunner(out_dir=tmp_path, cwd=tmp_path, total=1)
    assert first.run("write", "write a file", command, outputs=[marker])
    again = StepRunner(out_dir=tmp_path, cwd=tmp_path, total=1)
    assert not again.run("write", "write a file", command, outputs=[marker])
    assert marker.read_text() == "x" and "done earlier, skipped" in capsys.readouterr().out
    timing = json.loads((tmp_path / "timing.json").read_text())
    assert set(timing["steps"]) == {"write"} and timing["steps"]["write"]["cpu_seconds"] >= 0
    assert timing["software"]["torch"].startswith(torch.__version__.split("+")[0]) and "commit" in timing
    changed = StepRunner(out_dir=tmp_path, cwd=tmp_path, total=1)
    assert changed.run("write", "write a file", [*command[:-1], command[-1] + " or 1"], outputs=[marker])


BURN_IN_A_FORKSERVER_WORKER = """
import multiprocessing, time

def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass

if __name__ == "__main__":
    worker = multiprocessing.get_context("forkserver").Process(target=burn, args=(1.5,))
    worker.start()
    worker.join()
"""


def test_step_cpu_time_counts_workers_of_a_forkserver(tmp_path):
    # The forkserver is never waited for, so RUSAGE_CHILDREN alone misses its workers' 1.5 CPU-seconds.
    script = tmp_path / "burn.py"
    script.write_text(BURN_IN_A_FORKSERVER_WORKER)
    runner = StepRunner(out_dir=tmp_path, cwd=tmp_path, total=1)
    assert runner.run("burn", "burn CPU in a worker", [sys.executable, str(script)])
    timing = json.loads((tmp_path / "timing.json").read_text())["steps"]["burn"]
    assert 1.4 <= timing["cpu_seconds"] <= timing["wall_seconds"] * (os.cpu_count() or 1) + 0.5


def _published_run(tmp_path):
    out = tmp_path / "study"
    config = from_dict(
        PipelineConfig,
        {"arms": [{"name": "dynaflip"}, {"name": "image-only"}],
         "publish": [{"run": "dynaflip", "name": "tiny-shipped", "tag": "test", "notes": "a test encoder"}]},
    )  # fmt: skip
    dump_yaml(config, out / "pipeline-config.yaml")
    make_run(out / "runs" / "dynaflip", seed=3)
    return out


def test_published_runs_load_offline_by_name_with_identical_features(tmp_path, monkeypatch):
    out = _published_run(tmp_path)
    (entry,) = publish(out)
    folder = out / "publish" / "weights" / "tiny-shipped-test"
    assert entry["sha256"] == file_sha256(folder / "model.safetensors") and entry["sources"] == {
        "path": "weights/tiny-shipped-test"
    }
    card = (folder / "README.md").read_text()
    assert "simulated robot video only" in card and "not the paper's model" in card
    assert "checkpoint" not in json.loads((folder / "config.json").read_text())["training"]

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder, _ = dynaflip.load("tiny-shipped@test", registry=out / "publish" / "registry.yaml")
    reference = checkpoint_encoder(out / "runs" / "dynaflip" / "checkpoints" / "step-3")
    assert torch.equal(features(encoder), features(reference))

    (folder / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(ChecksumError, match="the registry expects"):
        dynaflip.load("tiny-shipped@test", registry=out / "publish" / "registry.yaml")


def test_install_writes_the_entry_once_between_markers_and_ships_the_weights(tmp_path):
    out = _published_run(tmp_path)
    publish(out)
    packaged = tmp_path / "package" / "registry.yaml"
    packaged.parent.mkdir()
    packaged.write_text("# header comment kept\nformat_version: 1\nencoders:\n")
    assert install(out, registry_path=packaged) == ["tiny-shipped@test"]
    assert install(out, registry_path=packaged) == ["tiny-shipped@test"]  # again: replaced, not duplicated
    text = packaged.read_text()
    assert text.startswith("# header comment kept") and text.count("name: tiny-shipped") == 1
    (entry,) = load_registry(packaged)
    assert entry.available and (entry.local_folder / "model.safetensors").is_file()


def test_install_writes_into_a_checkout_only(monkeypatch, tmp_path):
    assert checkout_registry() == REPO / "dynaflip" / "pretrained" / "registry.yaml"  # this checkout (editable)
    installed = tmp_path / "site-packages" / "dynaflip" / "pretrained" / "registry.yaml"
    installed.parent.mkdir(parents=True)
    installed.write_text("format_version: 1\nencoders: []\n")
    monkeypatch.setattr("dynaflip.pipeline.publish.default_registry_path", lambda: installed)
    with pytest.raises(NotACheckout) as error:
        install(_published_run(tmp_path))
    message = str(error.value)
    assert message.startswith(f"publish --install: {installed} belongs to an installed package") and "\n" not in message
    assert installed.read_text() == "format_version: 1\nencoders: []\n"
