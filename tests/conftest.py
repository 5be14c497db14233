"""Shared test setup.

torch and torchvision are imported before anything can create a MuJoCo GL context: importing them after
one exists crashes the process (an LLVM clash between triton and Mesa; see environment-notes).
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
import torchvision  # noqa: F401

torch.set_num_threads(min(2, os.cpu_count() or 1))


import pytest  # noqa: E402

# Simulated robot shards shared by the extraction, training and Slurm tests: the quick Meta-World suite,
# scripted experts, 96 px renders, extracted with the real pipeline (default tracker + recorded depth).
METAWORLD_EXTRACT_SETTINGS = [
    "sampling.horizon_seconds=0.3",
    "sampling.references_per_clip=3",
    "sampling.grid_size=8",
    "sampling.flow_steps=5",
    "output.image_size=0",
    "output.clips_per_shard=3",
]


@pytest.fixture(scope="session")
def metaworld_shards(tmp_path_factory):
    from dynaflip.extract.cli import main

    out = tmp_path_factory.mktemp("metaworld") / "shards"
    args = ["metaworld", "--out", str(out), "--episodes-per-task", "3", "--image-size", "96", "--no-progress"]
    assert main([*args, *METAWORLD_EXTRACT_SETTINGS]) == 0
    return out
