"""Source adapters on real files: tiny encoded videos, sidecars, manifests, SSv2 labels, narration tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dynaflip.extract.clips import ClipSpec, SkippedClip
from dynaflip.extract.sources import (
    SOURCES,
    TableError,
    clean_ego4d_narration,
    fill_template,
    get_source,
    iter_folder_clips,
    iter_narration_clips,
    iter_ssv2_clips,
    parse_time,
    read_table,
)
from dynaflip.extract.video import decode_frames
from dynaflip.schema import KEY_PATTERN
from tests.helpers.sources_files import (
    write_csv,
    write_depth,
    write_json,
    write_jsonl,
    write_state,
    write_text,
    write_video,
)

K = [[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]]
K_TUPLE = ((50.0, 0.0, 32.0), (0.0, 50.0, 24.0), (0.0, 0.0, 1.0))


@pytest.fixture(scope="module")
def video_files(tmp_path_factory) -> dict[str, Path]:
    """One real encoded video per container; tests copy them (encoding once keeps the suite fast)."""
    folder = tmp_path_factory.mktemp("videos")
    return {ext: write_video(folder / f"v{ext}") for ext in (".mp4", ".webm")}


def put_video(video_files: dict[str, Path], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(video_files[".webm" if path.suffix.lower() == ".webm" else ".mp4"], path)
    return path


def split(items) -> tuple[list[ClipSpec], list[SkippedClip]]:
    items = list(items)
    clips = [item for item in items if isinstance(item, ClipSpec)]
    skipped = [item for item in items if isinstance(item, SkippedClip)]
    assert len(clips) + len(skipped) == len(items)
    return clips, skipped


def test_helper_videos_decode(video_files):
    for path in video_files.values():
        assert decode_frames(path).frames.shape == (16, 48, 64, 3)


# ---- folder: sidecars ----------------------------------------------------------------------------------


def test_folder_sidecars_give_exact_clips_in_id_order(tmp_path, video_files):
    root = tmp_path / "data"
    pour = put_video(video_files, root / "kitchen" / "pour.mp4")
    write_json(
        root / "kitchen" / "pour.json",
        {
            "instruction": "pour the water",
            "intrinsics": K,
            "embodiment": "robot",
            "start_seconds": 0.5,
            "end_seconds": 1.25,
            "source": "my-lab",
            "task": "pour",
            "seed": 3,
            "fps": 10,
        },
    )
    depth = write_depth(root / "kitchen" / "pour.depth.npz")
    state = write_state(root / "kitchen" / "pour.state.npz")
    drawer = put_video(video_files, root / "a_drawer.webm")
    write_json(root / "a_drawer.json", {"instruction": "  open   the\ndrawer ", "video_id": 17})
    write_json(root / "notes.json", {"comment": "not a sidecar"})  # other JSON files are ignored

    first = list(iter_folder_clips(root))
    assert first == list(iter_folder_clips(root))  # deterministic
    clips, skipped = split(first)
    assert skipped == []
    assert clips == [
        ClipSpec(
            clip_id="a_drawer",
            source="folder",
            video_id="17",
            video_path=str(drawer),
            instruction="open the drawer",
            embodiment="human",
        ),
        ClipSpec(
            clip_id=clips[1].clip_id,
            source="my-lab",
            video_id="kitchen/pour",
            video_path=str(pour),
            instruction="pour the water",
            embodiment="robot",
            start_seconds=0.5,
            end_seconds=1.25,
            intrinsics=K_TUPLE,
            depth_path=str(depth),
            state_path=str(state),
        ),
    ]
    assert clips[1].clip_id.startswith("kitchen-pour_") and clips[1].clip_id.endswith("-s500-e1250")
    assert clips[1].extras == {"task": "pour", "seed": 3, "fps": 10}
    assert clips[0].extras == {}


def test_folder_depth_and_state_archives_are_not_videos(tmp_path, video_files):
    put_video(video_files, tmp_path / "ep.mp4")
    write_json(tmp_path / "ep.json", {"instruction": "reach the goal", "embodiment": "sim"})
    write_depth(tmp_path / "ep.depth.npz")
    write_state(tmp_path / "ep.state.npz")
    clips, skipped = split(iter_folder_clips(tmp_path, default_embodiment="robot"))
    assert skipped == [] and len(clips) == 1
    assert clips[0].depth_path == str(tmp_path / "ep.depth.npz")
    assert clips[0].state_path == str(tmp_path / "ep.state.npz")
    assert clips[0].embodiment == "sim"


def test_folder_default_embodiment_and_non_recursive(tmp_path, video_files):
    put_video(video_files, tmp_path / "top.mp4")
    write_json(tmp_path / "top.json", {"instruction": "push"})
    put_video(video_files, tmp_path / "sub" / "deep.mp4")
    write_json(tmp_path / "sub" / "deep.json", {"instruction": "pull"})
    put_video(video_files, tmp_path / ".hidden" / "x.mp4")  # hidden folders are not walked
    shallow = [c.clip_id for c in iter_folder_clips(tmp_path, recursive=False, default_embodiment="robot")]
    assert shallow == ["top"]
    clips, skipped = split(iter_folder_clips(tmp_path, default_embodiment="robot"))
    assert [c.instruction for c in clips] == ["pull", "push"] and skipped == []
    assert {c.embodiment for c in clips} == {"robot"}
    with pytest.raises(ValueError, match="default_embodiment"):
        list(iter_folder_clips(tmp_path, default_embodiment="alien"))


BAD_SIDECARS = [
    # (sidecar text, reason, fragments of the detail)
    (None, "missing-sidecar", ["clips/a.mp4", "no sidecar clips/a.json"]),
    ('{"instruction": "x",', "bad-sidecar", ["clips/a.json:1", "invalid JSON"]),
    ('["pick"]', "bad-sidecar", ["clips/a.json", "expected a JSON object, got list"]),
    ('{"task": "pick"}', "bad-sidecar", ["clips/a.json", "field 'instruction'", "non-empty string"]),
    ('{"instruction": "   "}', "bad-sidecar", ["clips/a.json", "field 'instruction'"]),
    ('{"instruction": 5}', "bad-sidecar", ["clips/a.json", "field 'instruction'", "a string"]),
    ('{"instruction": "x", "intrinsics": [[0, 0, 1], [0, 1, 1], [0, 0, 1]]}', "bad-sidecar", ["'intrinsics'", "fx"]),
    ('{"instruction": "x", "intrinsics": [[50, 0, 0], [0, 50, 0], [32, 24, 1]]}', "bad-sidecar", ["'intrinsics'"]),
    ('{"instruction": "x", "intrinsics": [[1, 2, "a"], [0, 1, 1], [0, 0, 1]]}', "bad-sidecar", ["3x3 list"]),
    ('{"instruction": "x", "embodiment": "alien"}', "bad-sidecar", ["field 'embodiment'", "human", "'alien'"]),
    ('{"instruction": "x", "start_seconds": 2, "end_seconds": 2}', "bad-sidecar", ["field 'end_seconds'", "after"]),
    ('{"instruction": "x", "start_seconds": "soon"}', "bad-sidecar", ["field 'start_seconds'", "'soon'"]),
    ('{"instruction": "x", "start_seconds": -1}', "bad-sidecar", ["field 'start_seconds'", ">= 0"]),
    ('{"instruction": "x", "end_seconds": true}', "bad-sidecar", ["field 'end_seconds'", "True"]),
]


@pytest.mark.parametrize(("text", "reason", "fragments"), BAD_SIDECARS)
def test_folder_bad_sidecar_is_skipped_with_a_precise_detail(tmp_path, video_files, text, reason, fragments):
    put_video(video_files, tmp_path / "clips" / "a.mp4")
    if text is not None:
        write_text(tmp_path / "clips" / "a.json", text)
    put_video(video_files, tmp_path / "clips" / "b.mp4")
    write_json(tmp_path / "clips" / "b.json", {"instruction": "fine"})
    clips, skipped = split(iter_folder_clips(tmp_path))
    assert [c.instruction for c in clips] == ["fine"]  # one bad item never stops the others
    assert len(skipped) == 1
    assert skipped[0].reason == reason
    assert "\n" not in skipped[0].detail
    for fragment in fragments:
        assert fragment in skipped[0].detail


def test_folder_intrinsics_detail_is_exact(tmp_path, video_files):
    put_video(video_files, tmp_path / "clips" / "a.mp4")
    write_json(tmp_path / "clips" / "a.json", {"instruction": "x", "intrinsics": [[1, 2]]})
    (skip,) = iter_folder_clips(tmp_path)
    assert skip == SkippedClip(
        clip_id=skip.clip_id,
        path=str(tmp_path / "clips" / "a.json"),
        reason="bad-sidecar",
        detail="clips/a.json: field 'intrinsics': expected a 3x3 list of numbers, got [[1, 2]]",
    )


def test_folder_orphan_sidecar_is_a_missing_video(tmp_path):
    write_json(tmp_path / "gone.json", {"instruction": "wave"})
    (skip,) = iter_folder_clips(tmp_path)
    assert skip.reason == "missing-video" and skip.detail.startswith("gone.json: no video gone.<mp4|")


def test_folder_ids_are_unique_key_safe_and_stable(tmp_path, video_files):
    names = ["my.clip.v2.mp4", "with space.mp4", "ünïcödé.MOV", "sub/a.mp4", "sub-a.mp4", "x" * 150 + ".mp4"]
    for name in names:
        put_video(video_files, tmp_path / name)
        write_json((tmp_path / name).with_suffix(".json"), {"instruction": "do it"})
    clips, skipped = split(iter_folder_clips(tmp_path))
    assert skipped == [] and len(clips) == len(names)
    ids = [c.clip_id for c in clips]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(KEY_PATTERN.match(i) and "." not in i and len(i) <= 96 for i in ids)
    assert ids == [c.clip_id for c in iter_folder_clips(tmp_path)]


# ---- folder: manifests ---------------------------------------------------------------------------------


def test_folder_jsonl_manifest_cuts_videos_and_reports_lines(tmp_path, video_files):
    root = tmp_path / "root"
    long = put_video(video_files, root / "videos" / "long take.mp4")
    elsewhere = put_video(video_files, tmp_path / "elsewhere" / "cam.mp4")
    depth = write_depth(root / "depth" / "long.npz")
    write_depth(tmp_path / "elsewhere" / "cam.depth.npz")  # picked up as the video's sibling
    manifest = write_jsonl(
        root / "manifest.jsonl",
        [
            {"video": "videos/long take.mp4", "instruction": "grab cup", "end_seconds": 0.5, "depth": "depth/long.npz"},
            {"video": "videos/long take.mp4", "instruction": "place cup", "start_seconds": 0.5, "end_seconds": 1.5},
            "{not json",
            {"video": str(elsewhere), "instruction": "wipe", "intrinsics": K, "clip_id": "cam.01", "cam": "left"},
            {"video": "videos/missing.mp4", "instruction": "nothing"},
            {"video": "videos/long take.mp4", "instruction": "x", "depth": "depth/none.npz"},
            {"video": "videos/long take.mp4", "instruction": "x", "intrinsics": "[[1, 2]]"},
            {"instruction": "no video"},
        ],
    )
    clips, skipped = split(iter_folder_clips(root, manifest=manifest))
    assert [(s.reason, s.detail.split(": ")[0]) for s in skipped] == [
        ("bad-row", f"{manifest}:3"),
        ("missing-video", f"{manifest}:5"),
        ("missing-depth", f"{manifest}:6"),
        ("bad-row", f"{manifest}:7"),
        ("bad-row", f"{manifest}:8"),
    ]
    assert "field 'depth'" in skipped[2].detail and "field 'intrinsics'" in skipped[3].detail
    assert "field 'video'" in skipped[4].detail
    by_instruction = {c.instruction: c for c in clips}
    assert [c.clip_id for c in clips] == sorted(c.clip_id for c in clips)
    grab, place, wipe = by_instruction["grab cup"], by_instruction["place cup"], by_instruction["wipe"]
    assert (grab.start_seconds, grab.end_seconds, grab.depth_path) == (None, 0.5, str(depth))
    assert grab.clip_id.endswith("-s0-e500") and place.clip_id.endswith("-s500-e1500")
    assert grab.video_path == place.video_path == str(long)
    assert wipe.clip_id.startswith("cam-01_") and wipe.intrinsics == K_TUPLE and wipe.extras == {"cam": "left"}
    assert wipe.depth_path == str(tmp_path / "elsewhere" / "cam.depth.npz")


def test_folder_csv_manifest_with_json_intrinsics_and_duplicates(tmp_path, video_files):
    put_video(video_files, tmp_path / "a.mp4")
    header = ["video", "instruction", "intrinsics", "embodiment", "start_seconds", "end_seconds"]
    rows = [
        ["a.mp4", "lift", "[[50, 0, 32], [0, 50, 24], [0, 0, 1]]", "robot", "1", "1.5"],
        ["a.mp4", "multi\nline", "", "", "", ""],  # a quoted cell spanning two lines
        ["a.mp4", "lift again", "", "", "1.0", "1.500"],  # same bounds: same id
        ["a.mp4", "too", "few"],
        ["a.mp4", "drop", "", "", "3", "2"],
    ]
    manifest = write_csv(tmp_path / "clips.csv", header, rows)
    clips, skipped = split(iter_folder_clips(tmp_path, manifest="clips.csv"))  # looked up inside root
    assert [(c.clip_id, c.instruction) for c in clips] == [("a", "multi line"), ("a-s1000-e1500", "lift")]
    assert clips[1].intrinsics == K_TUPLE and clips[1].embodiment == "robot"
    reasons = [(s.reason, s.detail.split(": ")[0]) for s in skipped]
    assert reasons == [
        ("bad-row", f"{manifest}:6"),
        ("bad-row", f"{manifest}:7"),
        ("duplicate-clip-id", str(tmp_path / "a.mp4")),
    ]
    assert "expected 6 columns, got 3" in skipped[0].detail
    assert "field 'end_seconds'" in skipped[1].detail


def test_read_table_formats_and_errors(tmp_path):
    tsv = write_csv(tmp_path / "t.tsv", ["a", "b"], [["1", " x "], ["", ""], ["2", "y"]], delimiter="\t")
    rows = list(read_table(tsv))
    assert [(r.line, r.values) for r in rows] == [(2, {"a": "1", "b": "x"}), (4, {"a": "2", "b": "y"})]
    items = list(read_table(write_json(tmp_path / "l.json", [{"a": 1}, 3])))
    assert items[0].where == f"{tmp_path / 'l.json'}[0]" and items[1].error == "expected a JSON object, got int"
    with pytest.raises(TableError, match="unknown table format"):
        list(read_table(tmp_path / "t.xlsx"))
    with pytest.raises(TableError, match="not found"):
        list(read_table(tmp_path / "none.csv"))
    with pytest.raises(TableError, match="empty table"):
        list(read_table(write_text(tmp_path / "e.csv", "")))


# ---- Something-Something v2 ----------------------------------------------------------------------------


def test_fill_template():
    assert fill_template("Putting [something] into [something in it]", ["pen", "cup"]) == "Putting pen into cup"
    with pytest.raises(ValueError, match="2 slots"):
        fill_template("Holding [something] next to [something]", ["potato"])


def test_ssv2_labels(tmp_path, video_files):
    videos = tmp_path / "videos"
    put_video(video_files, videos / "78687.webm")
    put_video(video_files, videos / "1001.webm")
    put_video(video_files, videos / "42.mp4")  # re-encoded copy
    labels = write_json(
        tmp_path / "train.json",
        [
            {
                "id": "78687",
                "label": "holding potato next to vicks vaporub bottle",
                "template": "Holding [something] next to [something]",
                "placeholders": ["potato", "vicks vaporub bottle"],
            },
            {"id": "1001", "template": "Putting [something] into [something]", "placeholders": ["pen", "mug"]},
            {"id": 42, "template": "Pushing [something] from left to right", "placeholders": ["a box"]},
            {"id": "7"},  # test split: no label
            {"id": "8", "label": "moving something"},  # no video
            {"id": "9", "template": "Holding [something] next to [something]", "placeholders": ["x"]},
            "not an object",
        ],
    )
    clips, skipped = split(iter_ssv2_clips(videos, labels))
    assert clips == [
        ClipSpec("1001", "something-something-v2", "1001", str(videos / "1001.webm"), "Putting pen into mug", "human"),
        ClipSpec(
            "42", "something-something-v2", "42", str(videos / "42.mp4"), "Pushing a box from left to right", "human"
        ),
        ClipSpec(
            "78687",
            "something-something-v2",
            "78687",
            str(videos / "78687.webm"),
            "holding potato next to vicks vaporub bottle",
            "human",
        ),
    ]
    assert clips[2].extras["placeholders"] == ["potato", "vicks vaporub bottle"]
    assert [(s.clip_id, s.reason) for s in skipped] == [
        ("7", "no-instruction"),
        ("8", "missing-video"),
        (skipped[2].clip_id, "bad-row"),
        (skipped[3].clip_id, "bad-row"),
    ]
    assert skipped[0].detail.startswith(f"{labels}[3] (id 7): fields 'label'/'template'")
    assert "8.webm" in skipped[1].detail
    assert skipped[2].detail.startswith(f"{labels}[5]: field 'placeholders'")
    assert skipped[3].detail == f"{labels}[6]: expected a JSON object, got str"


# ---- narration tables ----------------------------------------------------------------------------------

EPIC_HEADER = [
    "narration_id",
    "participant_id",
    "video_id",
    "narration_timestamp",
    "start_timestamp",
    "stop_timestamp",
    "start_frame",
    "stop_frame",
    "narration",
    "verb",
    "verb_class",
    "noun",
    "noun_class",
    "all_nouns",
    "all_noun_classes",
]


def epic_row(nid, video, start, stop, text, verb="open", noun="door"):
    return [
        nid,
        video.split("_")[0],
        video,
        start,
        start,
        stop,
        "1",
        "2",
        text,
        verb,
        "3",
        noun,
        "8",
        f"['{noun}']",
        "[8]",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:01:02.50", 62.5), ("01:00:00.00", 3600.0), ("1:02.5", 62.5), ("3.25", 3.25), (4, 4.0)],
)
def test_parse_time(text, seconds):
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["abc", "-1", "nan", "00:01:xx", "", None, True])
def test_parse_time_rejects(bad):
    with pytest.raises(ValueError):
        parse_time(bad)


def test_epic_kitchens_both_layouts(tmp_path, video_files):
    videos = tmp_path / "EPIC-KITCHENS"
    flat = put_video(video_files, videos / "P01_01.MP4")
    nested = put_video(video_files, videos / "P02" / "videos" / "P02_03.mp4")
    table = write_csv(
        tmp_path / "EPIC_100_train.csv",
        EPIC_HEADER,
        [
            epic_row("P02_03_0", "P02_03", "00:00:01.00", "00:00:02.20", "open fridge", "open", "fridge"),
            epic_row("P01_01_1", "P01_01", "00:01:02.50", "00:01:04.00", "take knife", "take", "knife"),
            epic_row("P01_01_2", "P01_01", "00:01:0x.50", "00:01:04.00", "wash cup"),
            epic_row("P01_01_3", "P01_01", "00:00:05.00", "00:00:05.00", "wash cup"),
            epic_row("P01_01_4", "P01_01", "00:00:05.00", "00:00:06.00", "  "),
            epic_row("P03_07_0", "P03_07", "00:00:05.00", "00:00:06.00", "cut onion"),
        ],
    )
    clips, skipped = split(iter_narration_clips(videos, table))
    assert clips == [
        ClipSpec("P01_01_1", "epic-kitchens-100", "P01_01", str(flat), "take knife", "human", 62.5, 64.0),
        ClipSpec("P02_03_0", "epic-kitchens-100", "P02_03", str(nested), "open fridge", "human", 1.0, 2.2),
    ]
    assert clips[0].extras["verb"] == "take" and clips[0].extras["participant_id"] == "P01"
    assert [(s.clip_id, s.reason) for s in skipped] == [
        ("P01_01_2", "bad-row"),
        ("P01_01_3", "bad-row"),
        ("P01_01_4", "no-instruction"),
        ("P03_07_0", "missing-video"),
    ]
    assert skipped[0].clip_id == "P01_01_2"
    assert skipped[0].detail.startswith(f"{table}:4: field 'start_timestamp'")
    assert skipped[1].detail.startswith(f"{table}:5: field 'stop_timestamp': expected a time after")
    assert skipped[2].detail.startswith(f"{table}:6: field 'narration'")
    assert skipped[3].detail.startswith(f"{table}:7: field 'video_id': no video P03_07.<mp4>")


def test_epic_wrong_columns_is_a_table_error(tmp_path):
    table = write_csv(tmp_path / "t.csv", ["video_uid", "start_sec", "end_sec", "narration_text"], [["v", 1, 2, "x"]])
    with pytest.raises(TableError, match="no column for 'video_id'"):
        list(iter_narration_clips(tmp_path, table))


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("#C C picks up the knife", "Picks up the knife"),
        ("#c c opens the drawer.", "Opens the drawer"),
        ("#C  C:  cuts the onion  ", "Cuts the onion"),
        ("#O man X holds a cup", "Man X holds a cup"),
        ("#O woman A gives #C C a cup", "Woman A gives the camera wearer a cup"),
        ("#C C picks #unsure from the table", "Picks something from the table"),
        ("#C C", ""),
        ("Cuts the cucumber", "Cuts the cucumber"),
    ],
)
def test_clean_ego4d_narration(raw, clean):
    assert clean_ego4d_narration(raw) == clean


def test_ego4d_table(tmp_path, video_files):
    video = put_video(video_files, tmp_path / "v" / "abc-123.mp4")
    table = write_jsonl(
        tmp_path / "narrations.jsonl",
        [
            {"video_uid": "abc-123", "start_sec": 1.0, "end_sec": 2.5, "narration_text": "#C C picks up the knife"},
            {"video_uid": "abc-123", "timestamp_sec": 0.4, "narration_text": "#C C drops the knife"},
            {"video_uid": "abc-123", "start_sec": "x", "end_sec": 2.5, "narration_text": "#C C waves"},
        ],
    )
    clips, skipped = split(iter_narration_clips(tmp_path / "v", table, preset="ego4d"))
    assert clips == [
        ClipSpec("abc-123-0-1400", "ego4d", "abc-123", str(video), "Drops the knife", "human", 0.0, 1.4),
        ClipSpec("abc-123-1000-2500", "ego4d", "abc-123", str(video), "Picks up the knife", "human", 1.0, 2.5),
    ]
    assert clips[1].extras == {"narration": "#C C picks up the knife"}
    assert [s.reason for s in skipped] == ["bad-row"]
    assert skipped[0].detail.startswith(f"{table}:3: field 'start_sec'")


def test_ego4d_official_json(tmp_path, video_files):
    video = put_video(video_files, tmp_path / "v" / "uid1.mp4")
    pass_1 = {"narrations": [{"timestamp_sec": 5.0, "timestamp_frame": 150, "narration_text": "#C C opens a tap"}]}
    pass_1["narrations"].append({"timestamp_sec": "late", "narration_text": "#C C closes the tap"})
    pass_2 = {"narrations": [{"timestamp_sec": 5.1, "narration_text": "#C C turns on the tap"}]}
    document = {
        "uid1": {"narration_pass_1": pass_1, "narration_pass_2": pass_2, "status": "complete"},
        "uid2": {"narration_pass_2": {"narrations": [{"timestamp_sec": 1.0, "narration_text": "#C C walks"}]}},
        "uid3": "redacted",
    }
    table = write_json(tmp_path / "narration.json", document)
    clips, skipped = split(iter_narration_clips(tmp_path / "v", table, preset="ego4d", half_window_seconds=0.5))
    assert clips == [ClipSpec("uid1-4500-5500", "ego4d", "uid1", str(video), "Opens a tap", "human", 4.5, 5.5)]
    assert clips[0].extras["timestamp_frame"] == 150 and clips[0].extras["narration_pass"] == "narration_pass_1"
    assert [s.reason for s in skipped] == ["bad-row", "missing-video"]
    assert skipped[0].detail.startswith(f"{table}[uid1][narration_pass_1][narrations][1]: field 'timestamp_sec'")
    assert "uid2" in skipped[1].detail  # falls back to the second pass, then finds no video
    with pytest.raises(TableError, match="preset 'ego4d'"):
        list(iter_narration_clips(tmp_path / "v", table, preset="epic-kitchens-100"))


def test_generic_columns(tmp_path, video_files):
    video = put_video(video_files, tmp_path / "v" / "sub" / "Take 1.MKV")
    table = write_csv(
        tmp_path / "t.tsv",
        ["file", "from", "to", "caption", "speaker"],
        [["sub/Take 1", "0:01.5", "3", "stir the soup", "ann"], ["sub/Take 1.MKV", "4", "5", "taste it", ""]],
        delimiter="\t",
    )
    columns = {"video_id": "file", "start": "from", "stop": "to", "text": "caption"}
    clips, skipped = split(iter_narration_clips(tmp_path / "v", table, preset="generic", columns=columns))
    assert skipped == []
    assert [(c.clip_id, c.video_path, c.start_seconds, c.end_seconds) for c in clips] == [
        (clips[0].clip_id, str(video), 1.5, 3.0),
        (clips[1].clip_id, str(video), 4.0, 5.0),
    ]
    assert clips[0].extras == {"speaker": "ann"} and clips[0].source == "generic"
    assert all(KEY_PATTERN.match(c.clip_id) and "." not in c.clip_id for c in clips)
    assert clips[0].clip_id.endswith("-1500-3000") and clips[1].clip_id.endswith("-4000-5000")
    with pytest.raises(ValueError, match="needs video_id"):
        list(iter_narration_clips(tmp_path / "v", table, preset="generic"))
    with pytest.raises(ValueError, match="unknown roles"):
        list(iter_narration_clips(tmp_path / "v", table, preset="generic", columns={**columns, "speaker": "s"}))


def test_registry():
    assert set(SOURCES) == {"folder", "ssv2", "narrations", "lerobot"}
    assert get_source("ssv2") is iter_ssv2_clips
    with pytest.raises(ValueError, match="expected one of"):
        get_source("kinetics")
