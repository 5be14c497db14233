"""``dynaflip-study`` end to end at the miniature size of configs/study/ci.yaml: every arm and pre-training
seed trained, probed and rolled out beside the calibration rows, the report, the timing record, and the
published registry entries (checksum, offline load by name, features identical to the exported run)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import dynaflip
from dynaflip.hub.checksum import file_sha256
from dynaflip.hub.registry import load_registry
from tests.helpers.hub_checkpoint import fixed_images

REPO = Path(__file__).resolve().parents[1]
RUNS = ["dynaflip-s0", "dynaflip-s1", "image-only-s0", "image-only-s1", "image-language", "no-actor", "no-language"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    command = [
        str(Path(sys.executable).parent / "dynaflip-study"),
        "--config",
        "configs/study/ci.yaml",
        f"output_dir={out}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1800, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "DynaFLIP study finished" in done.stdout
    return out


def test_every_arm_and_seed_is_trained_with_its_own_objective(study):
    for run in RUNS:
        export = study / "runs" / run / "export"
        assert (export / "model.safetensors").stat().st_size > 0, run
    modalities = {
        run: yaml.safe_load(next((study / "runs" / run / "checkpoints").glob("step-*/config.yaml")).read_text())[
            "objective"
        ]["modalities"]
        for run in RUNS
    }
    assert modalities["dynaflip-s1"] == ["image", "language", "flow"] and modalities["image-only-s0"] == ["image"]
    assert modalities["image-language"] == ["image", "language"] and modalities["no-language"] == ["image", "flow"]
    seeds = {run: yaml.safe_load(next((study / "runs" / run / "checkpoints").glob("step-*/config.yaml")).read_text())[
        "runtime"]["seed"] for run in ("dynaflip-s0", "dynaflip-s1")}  # fmt: skip
    assert seeds == {"dynaflip-s0": 0, "dynaflip-s1": 1}


def test_probes_policies_calibration_rows_report_and_timing(study):
    policy = {path.parent.name for path in (study / "results" / "policy").glob("*/results.json")}
    assert policy == {*RUNS, "random", "oracle-state", "blind"}
    probe = list((study / "results" / "probe").glob("*/results.json"))
    assert len(probe) == len(RUNS) + 1
    report = json.loads((study / "report" / "report.json").read_text())
    roles = {encoder["label"]: encoder.get("role") for encoder in report["encoders"]}
    assert sum(role is not None for role in roles.values()) == 2 and report["baseline"] == "image-only-s0"
    assert (study / "report" / "loss_curves.png").read_bytes()[:4] == b"\x89PNG"
    timing = json.loads((study / "timing.json").read_text())
    assert {f"train-{run}" for run in RUNS} <= set(timing["steps"]) and timing["software"]["mujoco"]
    assert all(step["cpu_seconds"] > 0 for step in timing["steps"].values())
    assert {step["commit"] for step in timing["steps"].values()} == {timing["commit"]}  # each step's own commit


def test_published_entries_load_offline_with_the_exported_features(study, monkeypatch):
    registry = study / "publish" / "registry.yaml"
    entries = {entry.full_name: entry for entry in load_registry(registry)}
    assert set(entries) == {"dynaflip-tiny-metaworld@study-cpu", "imageonly-tiny-metaworld@study-cpu"}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name, run in (
        ("dynaflip-tiny-metaworld@study-cpu", "dynaflip-s0"),
        ("imageonly-tiny-metaworld@study-cpu", "image-only-s0"),
    ):
        entry = entries[name]
        assert entry.sha256 == file_sha256(entry.local_folder / "model.safetensors")
        assert (entry.local_folder / "model.safetensors").stat().st_size < 20 * 2**20
        card = (entry.local_folder / "README.md").read_text()
        assert "Meta-World" in card and "not the paper's model" in card and "| encoder |" in card
        # The publisher's description heads the card (a baseline is not called a DynaFLIP encoder), and no
        # path of the machine that trained it is left in the card or the config.
        assert ("image-only baseline" in card) == name.startswith("imageonly")
        assert ("full DynaFLIP objective" in card) == name.startswith("dynaflip")
        assert str(study) not in card + (entry.local_folder / "config.json").read_text()
        commit = json.loads((study / "timing.json").read_text())["commit"]
        assert f"(commit {commit})" in card  # every training step recorded the commit it ran at
        shipped, _ = dynaflip.load(name, registry=registry)
        exported, _ = dynaflip.load(study / "runs" / run / "export")
        images = torch.nn.functional.interpolate(fixed_images(), size=entry.input_size)
        with torch.no_grad():
            assert torch.equal(shipped(images), exported(images))


def test_results_document_is_assembled_from_what_the_run_recorded(study, tmp_path, monkeypatch):
    from dynaflip.pipeline.results_doc import main as results_doc_main

    monkeypatch.chdir(REPO)  # the document names commands relative to the checkout it is written from

    conclusion = tmp_path / "conclusion.md"
    conclusion.write_text("At this size the numbers support no difference between the arms.")
    doc = tmp_path / "docs" / "study-ci.md"
    command = "dynaflip-study --config configs/study/ci.yaml"
    assert results_doc_main([str(study), "--doc", str(doc), "--conclusion", str(conclusion), "--command", command]) == 0
    text = doc.read_text()
    assert "support no difference" in text and f"`{command}`" in text
    for run in RUNS:
        assert f"| {run} |" in text  # the headline row of every pre-trained encoder
    assert "oracle (state) (ceiling)" in text and "| image-only | `objective.modalities=[image]`" in text
    # The noise yardstick: each two-seed arm's second seed against its first, with paired intervals.
    for arm in ("dynaflip", "image-only"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {arm} | {arm}-s1 - {arm}-s0 |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")[2:]]
        assert len(cells) == 4 and all(re.fullmatch(r"[+-]\d+\.\d+ (\[.+\]|\(no interval\))", c) for c in cells), row
    timing = json.loads((study / "timing.json").read_text())
    total = sum(step["wall_seconds"] for step in timing["steps"].values()) / 60
    assert f"| **total** | **{total:.1f}** |" in text and timing["commit"] in text
    # Each step's exact command, runnable from a clone's root (no path of this checkout left in it).
    train_command = timing["steps"]["train-dynaflip-s0"]["command"].replace(f"{REPO}/", "")
    assert train_command in text and "-m dynaflip.train.cli --config configs/train/tiny-cpu.yaml" in train_command
    for name in ("report.md", "report.json", "id_vs_ood.png", "loss_curves.png"):
        assert (doc.parent / "study-ci" / name).read_bytes() == (study / "report" / name).read_bytes()
    # Written from the folder that holds the run, the copied report names it relative to that folder.
    monkeypatch.chdir(study.parent)
    assert results_doc_main([str(study), "--doc", str(doc), "--conclusion", str(conclusion)]) == 0
    copied = (doc.parent / "study-ci" / "report.md").read_text()
    assert str(study.parent) not in copied and f"`{study.name}/runs/dynaflip-s0/export`" in copied
    json.loads((doc.parent / "study-ci" / "report.json").read_text())
    conclusion.write_text("  \n")  # a document without a conclusion is refused
    assert results_doc_main([str(study), "--doc", str(doc), "--conclusion", str(conclusion)]) == 2
