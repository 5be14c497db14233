"""The package as a user installs it: the wheel built from this checkout, installed into a fresh virtual
environment, runs the CI-size demo (``dynaflip-demo --config configs/demo-ci.yaml``) from an empty folder
outside the checkout, with the recipes it ships and nothing read from the checkout.

No network: the wheel is built with the suite's own setuptools (no build isolation) and installed without
dependencies; the fresh environment reuses the suite's installed dependencies through a ``.pth`` line (its own
site-packages, which holds the wheel's dynaflip, comes first)."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# What a wheel build needs from the checkout: the sources and packaging files, not the tests, outputs or venv.
NOT_PACKAGED = (".venv", ".git", "outputs", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                ".ruff_cache", "tests", "docs", "bench", "slurm")  # fmt: skip

pytestmark = pytest.mark.slow


def _run(command: list, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(fresh venv's python, its bin folder) with the wheel of this checkout installed."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_PACKAGED))
    _run([sys.executable, "-m", "pip", "wheel", source, "--no-deps", "--no-build-isolation", "--no-index",
          "-w", root / "wheels"], timeout=600)  # fmt: skip
    (wheel,) = (root / "wheels").glob("dynaflip-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], timeout=120)
    python = venv / "bin" / "python"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    Path(purelib, "suite-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel], timeout=300)
    return python, wheel


def test_the_wheel_ships_every_stage_and_the_recipes(installed):
    _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in ("dynaflip/pipeline/demo.py", "dynaflip/pipeline/recipes.py", "dynaflip/extract/cli.py",
                 "dynaflip/train/cli.py", "dynaflip/eval/policy_cli.py", "dynaflip/configs/demo-ci.yaml",
                 "dynaflip/configs/study/ci.yaml", "dynaflip/configs/train/tiny-cpu.yaml",
                 "dynaflip/configs/eval/policy-quick.yaml", "dynaflip/configs/extract/default.yaml",
                 "dynaflip/configs/deepspeed/zero2.json", "dynaflip/pretrained/registry.yaml"):  # fmt: skip
        assert path in names, path
    assert not any(name.startswith("dynaflip/demo.py") for name in names)  # moved into the pipeline stage


def test_dynaflip_demo_runs_from_an_empty_folder_outside_the_checkout(installed, tmp_path):
    python, _ = installed
    work = tmp_path / "empty"
    work.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env |= {"OMP_NUM_THREADS": "1", "MUJOCO_GL": "egl", "PYOPENGL_PLATFORM": "egl", "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
    where = _run([python, "-c", "import dynaflip.pipeline as p; print(p.__file__)"], cwd=work, env=env).stdout
    assert Path(where.strip()).is_relative_to(python.parent.parent) and str(REPO) not in where

    done = _run([python.parent / "dynaflip-demo", "--config", "configs/demo-ci.yaml", "output_dir=out"],
                cwd=work, env=env, timeout=1500)  # fmt: skip
    out = work / "out"
    assert f"Report: {out / 'report' / 'report.md'}" in done.stdout
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["baseline"] == "image-only" and {"probe", "policy"} <= set(report["kinds"])
    # Every step ran from the installed package and its shipped recipes, none from the checkout.
    steps = json.loads((out / "timing.json").read_text())["steps"]
    commands = " ".join(step["command"] for step in steps.values())
    assert str(REPO) not in commands and "dynaflip/configs/train/tiny-cpu.yaml" in commands
    assert "dynaflip/configs/eval/policy-quick.yaml" in commands
    for run in ("dynaflip", "image-only"):
        assert (out / "runs" / run / "export" / "model.safetensors").stat().st_size > 0
