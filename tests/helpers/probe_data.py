"""The tiny probe dataset the probe tests share: two fast Meta-World tasks, 64 px, built through the CLI.

It lives in pytest's session temp folder; building is resumable, so a second call only confirms that the
folder is complete.
"""

from __future__ import annotations

from pathlib import Path

TASKS = ("reach-v3", "button-press-topdown-v3")
TINY_BUILD = [
    "--tasks", *TASKS, "--episodes-per-task", "4", "--val-episodes", "1", "--test-episodes", "1",
    "--frames-per-episode", "3", "--image-size", "64", "--grid-size", "4", "--horizon", "6", "--no-progress",
]  # fmt: skip
TINY_ENCODER = "random:vit_tiny_patch16_224?img_size=64&patch_size=8&depth=2"


def tiny_probe_dataset(tmp_path_factory) -> Path:
    """Build (once per session) and return the tiny probe dataset folder."""
    import pytest

    pytest.importorskip("mujoco")
    pytest.importorskip("metaworld")
    from dynaflip.eval.probe_cli import main

    out = tmp_path_factory.getbasetemp() / "probe-tiny"
    assert main(["build-data", "--out", str(out), *TINY_BUILD]) == 0
    return out
