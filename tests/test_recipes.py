"""Every shipped recipe under configs/ parses and type-checks through the loader the code uses for it (the paper
recipe configs/train/vitb14-dinov2.yaml included), and so do the recipes a pipeline config names, with the
exact overrides the pipeline passes them. A new file under configs/ must be listed here, or the test fails."""

import json
from pathlib import Path

import pytest

from dynaflip.config import load_config
from dynaflip.eval.policy.config import PolicyConfig, validate
from dynaflip.extract.config import ExtractConfig
from dynaflip.pipeline.config import PipelineConfig
from dynaflip.pipeline.recipes import find_recipe, shipped_recipes
from dynaflip.train.backend import deepspeed_config
from dynaflip.train.config import TrainConfig

CONFIGS = shipped_recipes()
PIPELINES = ["demo.yaml", "demo-ci.yaml", "paper.yaml", "study/ci.yaml", "study/cpu.yaml", "study/gpu.yaml"]
TRAIN = ["train/paper-defaults.yaml", "train/tiny-cpu.yaml", "train/vitb14-dinov2.yaml"]
POLICY = ["eval/policy-full.yaml", "eval/policy-quick.yaml", "eval/calibrate.yaml", "eval/calibrate-quick.yaml"]
EXTRACT = ["extract/default.yaml"]
DEEPSPEED = ["deepspeed/zero1.json", "deepspeed/zero2.json"]
# The calibration evidence: which tasks each policy suite keeps, and the recipe that lists them.
CALIBRATION = {
    "eval/calibration/quick.json": "eval/policy-quick.yaml",
    "eval/calibration/full.json": "eval/policy-full.yaml",
}


def test_every_file_under_configs_is_checked_here():
    shipped = {
        str(path.relative_to(CONFIGS)) for pattern in ("**/*.yaml", "**/*.json") for path in CONFIGS.glob(pattern)
    }
    listed = {*PIPELINES, *TRAIN, *POLICY, *EXTRACT, *DEEPSPEED, *CALIBRATION}
    assert shipped == listed, f"not checked: {sorted(shipped - listed)}; gone: {sorted(listed - shipped)}"


@pytest.mark.parametrize("name", TRAIN)
def test_training_recipes(name):
    config = load_config(TrainConfig, files=[CONFIGS / name])  # as dynaflip-train --config reads it
    assert config.runtime.steps > 0 and config.optim.lr > 0


def test_the_paper_recipe_is_the_papers_setting():
    config = load_config(TrainConfig, files=[CONFIGS / "train" / "vitb14-dinov2.yaml"])
    assert config.model.image.name.startswith("vit_base_patch14_dinov2") and config.model.image.img_size == 224
    assert config.data.global_batch_size == 32  # the paper's batch, read as global (31 negatives per anchor)
    assert set(config.objective.modalities) == {"image", "language", "flow"}


@pytest.mark.parametrize("name", POLICY)
def test_policy_and_calibration_recipes(name):
    config = validate(load_config(PolicyConfig, files=[CONFIGS / name]))  # as dynaflip-policy reads it
    assert config.tasks or config.calibration.candidates


@pytest.mark.parametrize(("evidence", "recipe"), list(CALIBRATION.items()))
def test_each_policy_suite_runs_the_tasks_its_calibration_kept(evidence, recipe):
    kept = json.loads((CONFIGS / evidence).read_text())["kept"]
    assert list(load_config(PolicyConfig, files=[CONFIGS / recipe]).tasks) == kept


@pytest.mark.parametrize("name", EXTRACT)
def test_extraction_defaults(name):
    config = load_config(ExtractConfig, files=[CONFIGS / name])  # dynaflip-extract layers every run on it
    assert config.sampling.grid_size > 0


@pytest.mark.parametrize("name", DEEPSPEED)
def test_deepspeed_configs(name):
    recipe = load_config(
        TrainConfig,
        files=[CONFIGS / "train" / "vitb14-dinov2.yaml"],
        overrides=[f"runtime.deepspeed_config={CONFIGS / name}"],
    )
    ds = deepspeed_config(recipe, micro_batch=4, precision="bf16")  # what the trainer hands to accelerate
    assert ds["zero_optimization"]["stage"] in (1, 2) and ds["train_micro_batch_size_per_gpu"] == 4


@pytest.mark.parametrize("name", PIPELINES)
def test_pipeline_recipes_and_every_run_they_start(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the recipes they name come from the shipped ones, as from an installed wheel
    config = load_config(PipelineConfig, files=[CONFIGS / name])  # as dynaflip-demo / dynaflip-study read it
    recipe = find_recipe(config.train.recipe)
    for run, (arm, seed) in config.run_names().items():
        overrides = [f"runtime.steps={config.train.steps}", f"runtime.seed={seed}", *config.train.overrides,
                     *arm.overrides, f"runtime.output_dir=runs/{run}"]  # fmt: skip
        train = load_config(TrainConfig, files=[recipe], overrides=overrides)
        assert train.runtime.steps == config.train.steps, run
    policy = validate(
        load_config(PolicyConfig, files=[find_recipe(config.policy.config)], overrides=config.policy.overrides)
    )
    assert policy.tasks
    extract = load_config(
        ExtractConfig, files=[CONFIGS / "extract" / "default.yaml"], overrides=config.data.extract_overrides
    )
    assert extract.sampling.horizon_seconds > 0
    assert Path(recipe).is_relative_to(CONFIGS)
