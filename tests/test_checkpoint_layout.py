"""One checkpoint layout (dynaflip/checkpoint_layout.py) for the trainer that writes checkpoints and the hub's
export that reads them: both find the same complete checkpoints, in step order, past 10^8 steps too, and skip
interrupted saves."""

from __future__ import annotations

import json

import pytest

from dynaflip.checkpoint_layout import STATE_FILE, checkpoint_dir, checkpoint_step
from dynaflip.hub.export import find_checkpoint
from dynaflip.train.checkpoint import latest_checkpoint, list_checkpoints


def complete(folder):
    folder.mkdir(parents=True)
    (folder / STATE_FILE).write_text(json.dumps({"step": checkpoint_step(folder)}))
    return folder


def test_the_trainer_and_the_export_find_the_same_checkpoints(tmp_path):
    run = tmp_path / "run"
    written = [complete(checkpoint_dir(run, step)) for step in (10, 2, 123_456_789, 99_999_999)]
    (checkpoint_dir(run, 200_000_000)).mkdir()  # a save interrupted before its state file
    (run / "checkpoints" / ".tmp-step-300000000").mkdir()  # a save in progress
    (run / "checkpoints" / "notes.txt").write_text("not a checkpoint")
    assert [path.name for path in written[:2]] == ["step-00000010", "step-00000002"]
    assert [checkpoint_step(path) for path in list_checkpoints(run)] == [2, 10, 99_999_999, 123_456_789]
    assert latest_checkpoint(run) == find_checkpoint(run) == written[2]
    assert find_checkpoint(written[0]) == written[0]  # a checkpoint folder is itself


def test_a_run_without_checkpoints_is_explained(tmp_path):
    assert latest_checkpoint(tmp_path) is None and list_checkpoints(tmp_path) == []
    with pytest.raises(FileNotFoundError, match=r"neither a checkpoint \(trainer_state\.json\) nor a run folder"):
        find_checkpoint(tmp_path)
