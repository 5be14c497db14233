"""What a new user reads and sees: ``dynaflip-extract folder --help`` explains the folder format, and
``--no-progress`` means no progress bar at all, the text model's "Loading weights" bar included."""

import json
import os
import subprocess
import sys

import pytest

from dynaflip.extract.cli import main as extract_main
from tests.helpers.sources_files import write_video

K = [[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]]


def test_folder_help_describes_the_sidecar_format_with_examples(capsys):
    with pytest.raises(SystemExit) as done:
        extract_main(["folder", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for expected in (
        "NAME.json",
        "Sidecar (JSON object):",
        "instruction",
        "intrinsics",
        "assume_fovy_degrees",
        "start_seconds",
        "--manifest",
        "Example sidecar",
        "Examples:",
        "dynaflip-extract folder clips/ --out data/mine",
    ):
        assert expected in text, expected


def test_no_progress_shows_no_bar_not_even_the_text_models_loading_weights(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    write_video(clips / "wave.mp4")
    (clips / "wave.json").write_text(json.dumps({"instruction": "wave the hand", "intrinsics": K}))
    command = [
        sys.executable, "-m", "dynaflip.extract.cli", "folder", str(clips), "--out", str(tmp_path / "out"),
        "--no-progress", "depth.backend=none", "depth.allow_2_5d=true", "filters.min_motion_pixels=0",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out" / "text_embeddings.npz").is_file()  # the text model was loaded
    assert "Loading weights" not in done.stderr and "it/s]" not in done.stderr, done.stderr[-2000:]
