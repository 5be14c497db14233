"""Atomic output: the final file appears whole or not at all, with the mode a plain open() would give it."""

import os
import stat

import pytest

from dynaflip.io import atomic_open, atomic_write_json, atomic_write_text


def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    path = tmp_path / "out" / "manifest.json"
    atomic_write_json(path, {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert path.read_text().strip().startswith("{")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "notes.txt"
    atomic_write_text(path, "old")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with atomic_open(path) as handle:
            handle.write("half")
            raise Boom
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
