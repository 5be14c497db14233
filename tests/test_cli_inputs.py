"""Every CLI input is checked before the work: one line naming the input, exit status 2, and nothing computed
or written (the user loses seconds, not the minutes of a run that fails at its end)."""

import json
import time

import pytest

from dynaflip.eval.encoders import EncoderSpecError, check_spec, load_eval_encoder
from dynaflip.eval.probe_cli import main as probe_main
from dynaflip.extract.cli import main as extract_main
from tests.helpers.probe_data import TINY_ENCODER
from tests.helpers.sources_files import write_video

MISSPELT = "random:vit_tiny_patch16_224?img_sze=64"


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_probe_run_refuses_a_file_as_out_before_any_feature(tmp_path, capsys):
    out, cache = tmp_path / "results.txt", tmp_path / "cache"
    out.write_text("not a folder")
    started = time.perf_counter()
    # The data folder does not exist either: the --out check comes first, before the data are even read.
    args = ["run", "--data", str(tmp_path / "data"), "--encoder", TINY_ENCODER, "--out", str(out)]
    assert probe_main([*args, "--cache", str(cache), "--no-progress"]) == 2
    line = _one_line(capsys)
    assert "--out" in line and str(out) in line and "is a file; expected a folder" in line
    assert not cache.exists() and out.read_text() == "not a folder" and time.perf_counter() - started < 30
    under = tmp_path / "results.txt" / "probe"
    assert probe_main(["run", "--data", str(tmp_path), "--encoder", TINY_ENCODER, "--out", str(under)]) == 2
    assert "is a file, so no folder can be made there" in _one_line(capsys)


def test_probe_build_data_refuses_a_file_as_out_before_rendering(tmp_path, capsys):
    out = tmp_path / "probe-data"
    out.write_text("x")
    assert probe_main(["build-data", "--out", str(out), "--tasks", "reach-v3", "--no-progress"]) == 2
    line = _one_line(capsys)
    assert line.startswith("dynaflip-probe: error: --out") and "is a file; expected a folder" in line
    assert out.read_text() == "x"


def test_a_misspelt_random_option_is_refused_with_the_closest_key(tmp_path, capsys):
    with pytest.raises(EncoderSpecError, match=r"option 'img_sze' .* \(did you mean 'img_size'\?\)"):
        check_spec(MISSPELT)
    with pytest.raises(EncoderSpecError, match="did you mean 'depth'"):
        load_eval_encoder("random:vit_tiny_patch16_224?img_size=32&depht=1")
    # The CLI checks every encoder before the first one's features: the good first encoder is never run.
    cache = tmp_path / "cache"
    args = ["run", "--data", str(tmp_path / "data"), "--encoder", TINY_ENCODER, "--encoder", MISSPELT]
    assert probe_main([*args, "--out", str(tmp_path / "out"), "--cache", str(cache)]) == 2
    line = _one_line(capsys)
    assert "'img_sze'" in line and "did you mean 'img_size'" in line and "TypeError" not in line
    assert not cache.exists() and not (tmp_path / "out").exists()
    with pytest.raises(EncoderSpecError, match="no such file or folder"):
        check_spec(str(tmp_path / "no-such-export"))


def test_dynaflip_and_hf_specs_are_checked_without_loading(tmp_path):
    check_spec("dynaflip:dynaflip-tiny-metaworld")  # a shipped registry entry: fine
    with pytest.raises(EncoderSpecError, match="did you mean dynaflip-tiny-metaworld"):
        check_spec("dynaflip:dynaflip-tiny-metaworl")
    with pytest.raises(EncoderSpecError, match="no weights are published yet"):
        check_spec("dynaflip:dynaflip-vitb14-dinov2")
    with pytest.raises(EncoderSpecError, match="no such file or folder"):
        check_spec(f"dynaflip:{tmp_path}/export")
    with pytest.raises(EncoderSpecError, match="not a local transformers model folder"):
        check_spec(f"hf:{tmp_path}")


def test_folder_videos_without_intrinsics_are_refused_up_front_pointing_to_assume_fovy(tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    write_video(clips / "pour.mp4")
    (clips / "pour.json").write_text(json.dumps({"instruction": "pour water"}))
    out = tmp_path / "out"
    assert extract_main(["folder", str(clips), "--out", str(out), "--no-progress"]) == 2
    line = _one_line(capsys)
    assert "1 of 1 clips have no intrinsics" in line and "assume_fovy_degrees=" in line and "pour.mp4" in line
    assert not out.exists()  # nothing planned, nothing written


def test_report_refuses_a_file_as_out_before_reading_results(tmp_path, capsys):
    from dynaflip.eval.report_cli import main as report_main

    out = tmp_path / "report.md"
    out.write_text("x")
    assert report_main([str(tmp_path / "no-results"), "--out", str(out)]) == 2
    assert "--out" in (line := _one_line(capsys)) and "is a file; expected a folder" in line


def test_train_refuses_a_missing_shard_folder_in_one_line_before_any_step(tmp_path, capsys):
    from dynaflip.train.cli import main as train_main

    missing, out = tmp_path / "no-such-shards", tmp_path / "run"
    args = [f"data.shards=[{{path: {missing}}}]", f"runtime.output_dir={out}", "runtime.steps=2", "data.workers=0"]
    assert train_main(args) == 2
    line = _one_line(capsys)
    assert str(missing) in line and "no such shard folder" in line and "pattern" not in line
    assert not (out / "checkpoints").exists()
