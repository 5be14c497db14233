"""The PyAV decoder on files written with PyAV: AV1, variable frame rate, a container that lists frames it
cannot show (edit list, truncated last packet), seeking, resizing and unreadable inputs. Frames are checked by
content: each carries its number as a barcode."""

from __future__ import annotations

import numpy as np
import pytest

from dynaflip.extract.video import VideoReader, VideoUnreadable, decode_frames, frame_index, probe_video
from tests.helpers.video_files import (
    damage_last_packet,
    pattern_frame,
    read_number,
    truncate_last_packet,
    write_edit_list_mp4,
    write_faststart_mp4,
    write_frames,
    write_pattern_video,
)

# 45 frames at 30 fps, then 15 at 10 fps: a phone lowering its frame rate in dim light.
VFR_TIMES = [i / 30 for i in range(45)] + [1.5 + i / 10 for i in range(1, 16)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decoder")
    h264 = write_pattern_video(folder / "h264.mp4", frames=40)
    return {
        "h264": h264,
        "av1": write_pattern_video(folder / "av1.mp4", frames=40, codec="libsvtav1"),
        "vfr": write_pattern_video(folder / "vfr.mp4", frames=len(VFR_TIMES), times=VFR_TIMES),
        "edit-list": write_edit_list_mp4(h264, folder / "edit-list.mp4", hidden=2),
        "truncated": truncate_last_packet(write_faststart_mp4(folder / "whole.mp4"), folder / "truncated.mp4"),
        "damaged": damage_last_packet(folder / "whole.mp4", folder / "damaged.mp4"),
        # keyframes every 10 frames, B-frames: seeking lands mid-file
        "gop10": write_frames(
            folder / "gop10.mp4", [pattern_frame(n) for n in range(90)], options={"g": "10", "bf": "2"}
        ),
    }


def numbers(frames):
    return [read_number(image) for image in frames]


def test_pattern_barcode_survives_coding_and_resizing(files):
    decoded = decode_frames(files["h264"], short_side=224)
    assert decoded.frames.shape == (40, 224, 299, 3)
    assert numbers(decoded.frames) == list(range(40))


def test_av1_decodes_every_frame(files):
    info = probe_video(files["av1"])
    assert (info.codec, info.decoder, info.width, info.height) == ("av1", "libdav1d", 128, 96)
    assert info.num_frames == 40 and info.fps == pytest.approx(30.0) and not info.variable_frame_rate
    decoded = decode_frames(files["av1"], size=(64, 48))
    assert decoded.frames.shape == (40, 48, 64, 3) and decoded.frames.dtype == np.uint8
    assert numbers(decoded.frames) == list(range(40))
    np.testing.assert_allclose(decoded.timestamps, np.arange(40) / 30, atol=1e-9)


def test_variable_frame_rate_gives_the_written_presentation_times(files):
    info = probe_video(files["vfr"])
    assert info.variable_frame_rate and info.num_frames == len(VFR_TIMES)
    decoded = decode_frames(files["vfr"])
    assert numbers(decoded.frames) == list(range(len(VFR_TIMES)))
    # Exact to the 90 kHz clock; decord's index / average fps was off by up to 0.66 s on this file.
    np.testing.assert_allclose(decoded.timestamps, VFR_TIMES, atol=1 / 90000)
    assert info.duration_seconds == pytest.approx(VFR_TIMES[-1] + 0.1, abs=1e-6)
    assert not probe_video(files["h264"]).variable_frame_rate


def test_edit_list_hidden_frames_are_not_counted_and_never_repeated(files):
    """The header lists 40 samples; 2 lie before the edit list's start. decord reported 40 frames and gave
    frame 37's image for 38 and 39; here only the 38 shown frames exist, each with its own image."""
    info = probe_video(files["edit-list"])
    assert (info.container_frames, info.num_frames) == (40, 38)
    decoded = decode_frames(files["edit-list"])
    assert numbers(decoded.frames) == list(range(2, 40))
    assert decoded.timestamps[0] == 0.0 and np.all(np.diff(decoded.timestamps) > 0)
    with VideoReader(files["edit-list"]) as reader:
        frames, missing = reader.read([36, 37])
        assert not missing and numbers([frames[36], frames[37]]) == [38, 39]
        with pytest.raises(ValueError, match=r"frame numbers must lie in 0\.\.37"):
            reader.read([38])


def test_truncated_last_packet_is_not_a_frame(files):
    info = probe_video(files["truncated"])
    assert (info.container_frames, info.num_frames) == (30, 29)
    shown = numbers(decode_frames(files["truncated"]).frames)
    assert len(shown) == 29 and len(set(shown)) == 29 and set(shown) <= set(range(30))


def test_damaged_last_packet_is_listed_but_never_shown(files):
    """The packet is whole but its bytes are zeros: the container lists 30 frames, 29 decode. decord failed
    on the whole file; here the damaged frame is reported missing, and probing counts what decodes."""
    assert probe_video(files["damaged"], verify_tail=False).num_frames == 30  # what the packets say
    assert probe_video(files["damaged"]).num_frames == 29  # the last GOP decoded
    with VideoReader(files["damaged"]) as reader:
        frames, missing = reader.read(range(26, 30))
    assert missing == [29] and numbers([frames[n] for n in (26, 27, 28)]) == [26, 27, 28]
    assert numbers(decode_frames(files["damaged"]).frames) == list(range(29))


def test_reads_in_any_order_match_sequential_decoding(files):
    for name in ("gop10", "av1"):
        full = decode_frames(files[name])
        rng = np.random.default_rng(0)
        with VideoReader(files[name]) as reader:
            for _ in range(6):
                wanted = rng.choice(len(full.frames), size=4, replace=False)
                frames, missing = reader.read(wanted)
                assert not missing
                for number in wanted:
                    np.testing.assert_array_equal(frames[int(number)], full.frames[number])


def test_a_window_seeks_to_its_keyframe_instead_of_decoding_from_the_start(files):
    with VideoReader(files["gop10"]) as reader:
        window = reader.decode(start_seconds=2.2, end_seconds=2.7)  # frames 66..80; keyframe 60 before them
        assert numbers(window.frames) == list(range(66, 81)) and window.indices.tolist() == list(range(66, 81))
        np.testing.assert_allclose(window.timestamps, np.arange(66, 81) / 30, atol=1e-9)
        # From keyframe 60, not from frame 0 (81 frames); B-frames may add a couple the decoder holds back.
        assert 21 <= reader.frames_decoded <= 21 + 3, reader.frames_decoded
        decoded = reader.frames_decoded
        reader.decode(start_seconds=2.7, end_seconds=2.9)  # straight on from frame 81: no seek back
        assert reader.frames_decoded - decoded <= 6 + 3


def test_unreadable_inputs_are_one_line_errors_naming_the_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    for path in (empty, text, tmp_path / "absent.mp4"):
        with pytest.raises(VideoUnreadable) as error:
            frame_index(path)
        assert str(path) in str(error.value) and "\n" not in str(error.value)
