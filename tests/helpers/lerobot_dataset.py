"""Small LeRobot datasets written in the official layouts (v2.1 and v3.0) with pyarrow and PyAV.

Every frame shows its *global* frame index (the dataset's ``index`` column) and its camera as a binary code
in 2 x 8 black/white blocks over the top third of the image, large enough to survive AV1/H.264 compression
and resizing; :func:`read_code` reads it back. Below the code a textured pattern slides 2 px per frame, so
the tracker has something to follow. A depth stream holds known metric depth (:func:`true_depth`), quantized
to 12 bits and written losslessly as LeRobot does (HEVC, gray12le).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dynaflip.extract.depth.depth_video import DepthVideo

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole configuration per file otherwise

WIDTH, HEIGHT = 128, 96
CODE_ROWS, CODE_COLUMNS = 2, 8  # 16 bits: camera id << 12 | global index
DARK, BRIGHT = 24, 232
# LeRobot's encoder settings: GOP 2; AV1 through SVT-AV1 (its default codec), crf 30.
CODEC_OPTIONS = {
    "libsvtav1": {"g": "2", "crf": "30", "preset": "12"},
    "libx264": {"g": "2", "crf": "23"},
}
CODEC_NAMES = {"libsvtav1": "av1", "libx264": "h264", "libx265": "hevc"}
DEPTH_KEY = "observation.images.top_depth"
DEPTH = DepthVideo(path="", stream=DEPTH_KEY, time_offset_seconds=0.0, frame_interval_seconds=0.1)

DEFAULT_TASKS = ["pick up the red block", "push the green cube", "open the drawer", "close the drawer"]
# Per episode: (task, number of frames) runs; episode 2 changes task half-way.
DEFAULT_EPISODES = [
    [(0, 12)],
    [(1, 9)],
    [(2, 7), (3, 7)],
    [(0, 11)],
]


@dataclass
class EpisodeTruth:
    index: int
    first_global: int  # global index of the episode's first frame
    task_indices: list[int]  # per frame
    # camera key -> (video path relative to the root, from_timestamp inside it)
    videos: dict[str, tuple[str, float]] = field(default_factory=dict)
    data_path: str = ""

    @property
    def length(self) -> int:
        return len(self.task_indices)

    @property
    def global_indices(self) -> list[int]:
        return list(range(self.first_global, self.first_global + self.length))


@dataclass
class GeneratedDataset:
    root: Path
    version: str
    fps: int
    cameras: dict[str, int]  # RGB camera key -> camera id shown in its frames
    tasks: list[str]
    episodes: list[EpisodeTruth]
    depth_key: str | None = None


def code_of(camera_id: int, global_index: int) -> int:
    return (camera_id << 12) | global_index


def frame_image(
    camera_id: int, global_index: int, episode_frame: int, texture: np.ndarray, *, width: int = WIDTH
) -> np.ndarray:
    """(H, W, 3) uint8 (H from the texture, W = ``width``): the code blocks on top, the sliding texture below."""
    height = texture.shape[0]
    image = np.empty((height, width, 3), dtype=np.uint8)
    code = code_of(camera_id, global_index)
    band = height // 3
    block_h, block_w = band // CODE_ROWS, width // CODE_COLUMNS
    for bit in range(CODE_ROWS * CODE_COLUMNS):
        row, column = divmod(bit, CODE_COLUMNS)
        value = BRIGHT if (code >> bit) & 1 else DARK
        image[row * block_h : (row + 1) * block_h, column * block_w : (column + 1) * block_w] = value
    # Fixed grain on the blocks: flat blocks look like screen content to SVT-AV1, whose block copies then
    # paste one block over another in about 1 frame in 400 (seen here); grain stops it (0 in 2,664 frames).
    image[:band] = np.clip(image[:band].astype(np.int16) + _grain(band, width), 0, 255).astype(np.uint8)
    shift = 2 * episode_frame
    image[band:] = texture[: height - band, shift : shift + width]
    return image


@functools.cache
def _grain(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(7).integers(-28, 29, size=(height, width, 1)).astype(np.int16)


def read_code(image: np.ndarray) -> tuple[int, int]:
    """(camera id, global index) shown in ``image`` (any size: the blocks are located proportionally)."""
    height, width = image.shape[:2]
    gray = image.astype(np.float64).mean(axis=-1) if image.ndim == 3 else image.astype(np.float64)
    block_h, block_w = height / 3 / CODE_ROWS, width / CODE_COLUMNS
    code = 0
    for bit in range(CODE_ROWS * CODE_COLUMNS):
        row, column = divmod(bit, CODE_COLUMNS)
        top, left = int((row + 0.3) * block_h), int((column + 0.3) * block_w)
        bottom, right = int((row + 0.7) * block_h) + 1, int((column + 0.7) * block_w) + 1
        if gray[top:bottom, left:right].mean() > (DARK + BRIGHT) / 2:
            code |= 1 << bit
    return code >> 12, code & 0xFFF


def camera_texture(camera_id: int, max_length: int, *, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A smooth random texture, wide enough to slide 2 px per frame over ``max_length`` frames."""
    import cv2

    rng = np.random.default_rng(100 + camera_id)
    noise = rng.uniform(0, 255, size=(height, width + 2 * max_length + 4, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    smooth = (smooth - smooth.min()) / max(float(np.ptp(smooth)), 1e-6) * 200 + 28
    return smooth.astype(np.uint8)


def true_depth(global_index: int, *, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """(H, W) float32 metres of the depth stream at a frame: a slanted plane moving away 2 cm per frame."""
    columns = np.arange(width, dtype=np.float32)[None, :] / width
    return np.broadcast_to(0.6 + 0.02 * global_index + 0.3 * columns, (height, width)).astype(np.float32)


def write_video(
    path: Path, frames: list[np.ndarray], *, codec: str, fps: int, options: dict[str, str] | None = None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        if codec == "libx265":  # depth: 12-bit codes, lossless (LeRobot's DepthEncoderConfig)
            stream.pix_fmt = "gray12le"
            stream.options = {"g": "2", "x265-params": "lossless=1:log-level=error"}
        else:
            stream.pix_fmt = "yuv420p"
            stream.options = {**CODEC_OPTIONS[codec], **(options or {})}
        for number, image in enumerate(frames):
            pixel_format = "gray12le" if image.ndim == 2 else "rgb24"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=pixel_format)
            frame.pts, frame.time_base = number, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_dataset(
    root: Path,
    *,
    version: str = "v3.0",
    cameras: dict[str, str] | None = None,
    episodes: list[list[tuple[int, int]]] | None = None,
    tasks: list[str] | None = None,
    fps: int = 10,
    episodes_per_file: int = 3,
    episodes_per_video_file: dict[str, int] | None = None,
    chunks_size: int = 1000,
    depth: bool = False,
    intrinsics: dict[str, list[float]] | None = None,
    image_cameras: tuple[str, ...] = (),
    size: tuple[int, int] = (WIDTH, HEIGHT),
    codec_options: dict[str, str] | None = None,
    depth_key: str = DEPTH_KEY,
    depth_unit: str | None = "m",
    depth_holes: bool = False,
    subtasks: list[str] | None = None,
    frame_columns: dict[str, Callable[[EpisodeTruth, int], Any]] | None = None,
    row_group_per_episode: bool = False,
    drop_last_frame: tuple[str, int] | None = None,
) -> GeneratedDataset:
    """Write a dataset; ``cameras`` maps video keys to a PyAV encoder (default: an AV1 and an H.264 camera).

    ``episodes``: per episode, runs of (task index, frames). v3.0 puts ``episodes_per_file`` episodes in each
    data file and video file (per camera overridable), so the second and third episode of a file start at a
    non-zero ``from_timestamp``. ``depth`` adds a depth video paired with the first camera. ``intrinsics``:
    camera -> [fx, fy, cx, cy] stored in the feature's info. ``image_cameras`` are stored as PNGs in the parquet.
    ``size``: (width, height) of every stream. ``codec_options`` override the RGB encoders' options (e.g. g).

    LeRobot 0.6: ``depth_key`` names the depth feature (``observation.depth.top``), ``depth_unit`` is stored in its
    info (None: not stored); ``depth_holes`` writes code 0 (a sensor hole) in the left quarter and 4095 (beyond
    depth_max) in the right eighth of every depth frame; ``subtasks`` writes ``meta/subtasks.parquet``;
    ``frame_columns`` adds data columns, name -> f(episode, frame) (``subtask_index``, ``language_persistent``,
    ``language_events``); ``row_group_per_episode`` writes each data file one row group per episode, as LeRobot
    0.6 does. ``drop_last_frame`` = (video key, episode): that episode's last frame is missing from its video
    (the last episode of its file), a span one frame short.
    """
    cameras = dict(cameras or {"observation.images.top": "libsvtav1", "observation.images.wrist": "libx264"})
    plan = episodes or DEFAULT_EPISODES
    tasks = list(tasks or DEFAULT_TASKS)
    camera_ids = {key: number + 1 for number, key in enumerate([*cameras, *image_cameras])}
    truths, first = [], 0
    for index, runs in enumerate(plan):
        task_indices = [task for task, count in runs for _ in range(count)]
        truths.append(EpisodeTruth(index=index, first_global=first, task_indices=task_indices))
        first += len(task_indices)
    if first > 0xFFF:
        raise ValueError(f"{first} frames: the frame code holds global indices below 4096")
    max_length = max(t.length for t in truths)
    width, height = size
    textures = {key: camera_texture(camera_ids[key], max_length, width=width, height=height) for key in camera_ids}

    def rgb_frames(key: str, episode: EpisodeTruth) -> list[np.ndarray]:
        return [
            frame_image(camera_ids[key], g, k, textures[key], width=width) for k, g in enumerate(episode.global_indices)
        ]

    def depth_frames(episode: EpisodeTruth) -> list[np.ndarray]:
        out = []
        for g in episode.global_indices:
            codes = DEPTH.quantize(true_depth(g, height=height, width=width))
            if depth_holes:
                codes[:, : width // 4] = 0
                codes[:, width - width // 8 :] = 4095
            out.append(codes)
        return out

    streams = {key: (codec, rgb_frames) for key, codec in cameras.items()}
    if depth:
        streams[depth_key] = ("libx265", lambda _key, episode: depth_frames(episode))
    features = _features(
        cameras,
        image_cameras,
        fps,
        version,
        depth=depth,
        intrinsics=intrinsics or {},
        width=width,
        height=height,
        depth_key=depth_key,
        depth_unit=depth_unit,
    )
    options = {"columns": frame_columns or {}, "row_groups": row_group_per_episode, "drop": drop_last_frame}
    root.mkdir(parents=True, exist_ok=True)
    if version.startswith("v2"):
        _write_v2(root, truths, streams, tasks, fps, chunks_size, image_cameras, rgb_frames, codec_options)
    else:
        per_video = {key: (episodes_per_video_file or {}).get(key, episodes_per_file) for key in streams}
        _write_v3(
            root,
            truths,
            streams,
            tasks,
            fps,
            episodes_per_file,
            per_video,
            image_cameras,
            rgb_frames,
            codec_options,
            **options,
        )
    if subtasks is not None:
        _write_tasks_parquet(root / "meta/subtasks.parquet", subtasks, names=("subtask_index", "subtask"))
    info = {
        "codebase_version": version,
        "robot_type": "so100_follower",
        "total_episodes": len(truths),
        "total_frames": first,
        "total_tasks": len(tasks),
        "chunks_size": chunks_size,
        "fps": fps,
        "splits": {"train": f"0:{len(truths)}"},
        "features": features,
    }
    if version.startswith("v2"):
        info["data_path"] = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
        info["video_path"] = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
        info["total_videos"] = len(truths) * len(streams)
        info["total_chunks"] = (len(truths) + chunks_size - 1) // chunks_size
    else:
        info["data_path"] = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
        info["video_path"] = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
        info["data_files_size_in_mb"], info["video_files_size_in_mb"] = 100, 200
    (root / "meta").mkdir(exist_ok=True)
    (root / "meta/info.json").write_text(json.dumps(info, indent=4))
    return GeneratedDataset(
        root=root,
        version=version,
        fps=fps,
        cameras={key: camera_ids[key] for key in [*cameras, *image_cameras]},
        tasks=tasks,
        episodes=truths,
        depth_key=depth_key if depth else None,
    )


def _features(
    cameras, image_cameras, fps, version, *, depth, intrinsics, width, height, depth_key=DEPTH_KEY, depth_unit="m"
) -> dict:
    v2 = version.startswith("v2")
    features: dict = {
        "action": {"dtype": "float32", "shape": [2], "names": ["x", "y"]},
        "observation.state": {"dtype": "float32", "shape": [2], "names": ["x", "y"]},
    }

    def video_feature(codec: str, pix_fmt: str, channels: int, is_depth: bool) -> dict:
        info = {
            "video.height": height,
            "video.width": width,
            "video.codec": CODEC_NAMES[codec],
            "video.pix_fmt": pix_fmt,
            "video.fps": fps,
            "video.channels": channels,
            "has_audio": False,
        }
        info["video.is_depth_map" if v2 else "is_depth_map"] = is_depth
        return {
            "dtype": "video",
            "shape": [height, width, channels],
            "names": ["height", "width", "channels"],
            "info": info,
        }

    for key, codec in cameras.items():
        features[key] = video_feature(codec, "yuv420p", 3, False)
    if depth:
        features[depth_key] = video_feature("libx265", "gray12le", 1, True)
        features[depth_key]["info"].update(
            {
                "video.depth_min": DEPTH.depth_min,
                "video.depth_max": DEPTH.depth_max,
                "video.shift": DEPTH.shift,
                "video.use_log": DEPTH.use_log,
            }
        )
        if depth_unit is not None:
            features[depth_key]["info"]["depth_unit"] = depth_unit
    for key in image_cameras:
        features[key] = {"dtype": "image", "shape": [height, width, 3], "names": ["height", "width", "channels"]}
    for key, values in intrinsics.items():
        features[key].setdefault("info", {})["camera.intrinsics"] = values
    for name, dtype in (
        ("timestamp", "float32"),
        ("frame_index", "int64"),
        ("episode_index", "int64"),
        ("index", "int64"),
        ("task_index", "int64"),
    ):
        features[name] = {"dtype": dtype, "shape": [1], "names": None}
    return features


def _data_table(episodes: list[EpisodeTruth], fps: int, image_cameras, rgb_frames, extra=None) -> pa.Table:
    import cv2

    columns: dict[str, list] = {
        name: []
        for name in (
            "action",
            "observation.state",
            "timestamp",
            "frame_index",
            "episode_index",
            "index",
            "task_index",
            *image_cameras,
        )
    }
    for episode in episodes:
        for k, (g, task) in enumerate(zip(episode.global_indices, episode.task_indices, strict=True)):
            columns["action"].append([float(k), float(g)])
            columns["observation.state"].append([float(g), 0.0])
            columns["timestamp"].append(k / fps)
            columns["frame_index"].append(k)
            columns["episode_index"].append(episode.index)
            columns["index"].append(g)
            columns["task_index"].append(task)
        for key in image_cameras:
            for image in rgb_frames(key, episode):
                _, png = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
                columns[key].append({"bytes": png.tobytes(), "path": None})
    types = {
        "action": pa.list_(pa.float32()),
        "observation.state": pa.list_(pa.float32()),
        "timestamp": pa.float32(),
        "frame_index": pa.int64(),
        "episode_index": pa.int64(),
        "index": pa.int64(),
        "task_index": pa.int64(),
    }
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({name: pa.array(values, type=types.get(name, image_type)) for name, values in columns.items()})
    for name, make in (extra or {}).items():  # pyarrow infers the type, as LeRobot's language writer lets it
        values = [make(episode, k) for episode in episodes for k in range(episode.length)]
        table = table.append_column(name, pa.array(values))
    return table


def _write_data(path: Path, table: pa.Table, *, row_groups: bool) -> None:
    """One row group per episode (LeRobot 0.6), or pyarrow's default (one for a small file)."""
    if not row_groups:
        pq.write_table(table, path)
        return
    episodes = table.column("episode_index").to_pylist()
    with pq.ParquetWriter(path, table.schema) as writer:
        for index in dict.fromkeys(episodes):
            rows = [row for row, value in enumerate(episodes) if value == index]
            writer.write_table(table.slice(rows[0], len(rows)))


def _write_v2(root, truths, streams, tasks, fps, chunks_size, image_cameras, rgb_frames, codec_options) -> None:
    for episode in truths:
        chunk = episode.index // chunks_size
        data = root / f"data/chunk-{chunk:03d}/episode_{episode.index:06d}.parquet"
        data.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(_data_table([episode], fps, image_cameras, rgb_frames), data)
        episode.data_path = data.relative_to(root).as_posix()
        for key, (codec, make) in streams.items():
            video = root / f"videos/chunk-{chunk:03d}/{key}/episode_{episode.index:06d}.mp4"
            write_video(video, make(key, episode), codec=codec, fps=fps, options=codec_options)
            episode.videos[key] = (video.relative_to(root).as_posix(), 0.0)
    lines = [json.dumps({"episode_index": e.index, "tasks": _task_names(e, tasks), "length": e.length}) for e in truths]
    (root / "meta").mkdir(exist_ok=True)
    (root / "meta/episodes.jsonl").write_text("\n".join(lines) + "\n")
    task_lines = [json.dumps({"task_index": i, "task": task}) for i, task in enumerate(tasks)]
    (root / "meta/tasks.jsonl").write_text("\n".join(task_lines) + "\n")


def _write_v3(
    root,
    truths,
    streams,
    tasks,
    fps,
    per_file,
    per_video,
    image_cameras,
    rgb_frames,
    codec_options,
    *,
    columns=None,
    row_groups=False,
    drop=None,
) -> None:
    rows: list[dict] = []
    for start in range(0, len(truths), per_file):
        group, file_index = truths[start : start + per_file], start // per_file
        data = root / f"data/chunk-000/file-{file_index:03d}.parquet"
        data.parent.mkdir(parents=True, exist_ok=True)
        _write_data(data, _data_table(group, fps, image_cameras, rgb_frames, columns), row_groups=row_groups)
        for episode in group:
            episode.data_path = data.relative_to(root).as_posix()
            rows.append(
                {
                    "episode_index": episode.index,
                    "tasks": _task_names(episode, tasks),
                    "length": episode.length,
                    "data/chunk_index": 0,
                    "data/file_index": file_index,
                    "dataset_from_index": episode.first_global,
                    "dataset_to_index": episode.first_global + episode.length,
                }
            )
    for key, (codec, make) in streams.items():
        count = per_video[key]
        for start in range(0, len(truths), count):
            group, file_index = truths[start : start + count], start // count
            video = root / f"videos/{key}/chunk-000/file-{file_index:03d}.mp4"
            frames, offset = [], 0.0
            for episode in group:
                row = rows[episode.index]
                row[f"videos/{key}/chunk_index"], row[f"videos/{key}/file_index"] = 0, file_index
                row[f"videos/{key}/from_timestamp"] = offset
                row[f"videos/{key}/to_timestamp"] = offset + episode.length / fps
                episode.videos[key] = (video.relative_to(root).as_posix(), offset)
                frames.extend(make(key, episode))
                if drop == (key, episode.index):
                    if episode is not group[-1]:
                        raise ValueError("drop_last_frame: the episode must be the last of its video file")
                    frames.pop()
                offset += episode.length / fps
            write_video(video, frames, codec=codec, fps=fps, options=codec_options)
    for row in rows:
        row["meta/episodes/chunk_index"], row["meta/episodes/file_index"] = 0, 0
    episodes_file = root / "meta/episodes/chunk-000/file-000.parquet"
    episodes_file.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), episodes_file)
    _write_tasks_parquet(root / "meta/tasks.parquet", tasks)


def _write_tasks_parquet(path: Path, tasks: list[str], *, names: tuple[str, str] = ("task_index", "task")) -> None:
    """As pandas writes LeRobot's task table: the task string is the (named) index, stored as a column
    (``names``: the subtask table has the same layout with subtask_index / subtask)."""
    index_name, text_name = names
    table = pa.table({index_name: pa.array(range(len(tasks)), type=pa.int64()), text_name: pa.array(tasks)})
    pandas_metadata = {
        "index_columns": [text_name],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": index_name,
                "field_name": index_name,
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": text_name,
                "field_name": text_name,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    table = table.replace_schema_metadata({b"pandas": json.dumps(pandas_metadata).encode()})
    pq.write_table(table, path)


def _task_names(episode: EpisodeTruth, tasks: list[str]) -> list[str]:
    return [tasks[i] for i in dict.fromkeys(episode.task_indices)]
