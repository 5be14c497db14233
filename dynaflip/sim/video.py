"""Episodes on disk in the project's plain folder format, every file written atomically.

``NAME.mp4``        RGB video (H.264, yuv420p, crf 18; width and height must be even)
``NAME.json``       sidecar: instruction, intrinsics (3x3), embodiment "sim", fps, task, seed, camera,
                    shift (name or null), shift_seed, source "metaworld", num_frames, success
``NAME.depth.npz``  ``depth`` float32 (T, H, W) metres, ``cam_to_world`` float64 (T, 4, 4)
``NAME.state.npz``  per-step state, first axis T (see ``episodes.STATE_FIELDS``), and ``body_names``
                    (nbody,) naming the rows of ``body_poses`` (kept out of the sidecar, whose extra keys
                    travel into every extracted sample)
``NAME.seg.npz``    optional ``segmentation`` int32 (T, H, W) body ids
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from dynaflip.io import atomic_open, atomic_path, atomic_write_json

from .episodes import STATE_FIELDS, Episode
from .shifts import Shift, sample_shift

SUFFIXES = (".mp4", ".json", ".depth.npz", ".state.npz")
SEGMENTATION_SUFFIX = ".seg.npz"


def episode_name(task: str, seed: int, *, shift: str | None = None) -> str:
    """The file stem of an episode, e.g. ``pick-place-v3_seed000007``, ``..._occlusion_seed000007`` or, for a
    shift below full severity (``occlusion@0.5``), ``..._occlusion-at-0p5_seed000007`` (no dot: shard keys)."""
    middle = f"_{shift.replace('@', '-at-').replace('.', 'p')}" if shift else ""
    return f"{task}{middle}_seed{int(seed):06d}"


def episode_exists(folder: str | Path, name: str) -> bool:
    """Whether all files of a written episode are present (each is written atomically)."""
    return all((Path(folder) / f"{name}{suffix}").is_file() for suffix in SUFFIXES)


def write_mp4(frames: np.ndarray, path: str | Path, *, fps: float, crf: int = 18) -> None:
    """Encode (T, H, W, 3) uint8 frames as H.264 (yuv420p) to ``path``, atomically."""
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames: expected a non-empty (T, H, W, 3) uint8 array, got {frames.shape} {frames.dtype}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"frames: H.264 yuv420p needs an even width and height, got {width}x{height}")
    with atomic_path(path) as temp, av.open(str(temp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def read_mp4(path: str | Path) -> np.ndarray:
    """All frames of a video as (T, H, W, 3) uint8."""
    import av

    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def _save_npz(path: Path, arrays: dict[str, np.ndarray], *, compressed: bool = True) -> None:
    with atomic_open(path, "wb") as handle:  # a file handle: np.savez would append .npz to a name
        (np.savez_compressed if compressed else np.savez)(handle, **arrays)


def write_episode(episode: Episode, folder: str | Path, *, name: str | None = None, crf: int = 18) -> dict[str, Path]:
    """Write ``episode`` as NAME.* files in ``folder`` (default name from :func:`episode_name`).

    The video is written last, so a folder scan that sees NAME.mp4 also finds its sidecars. Returns the
    paths by suffix.
    """
    folder = Path(folder)
    shift_name = episode.shift.label if episode.shift is not None else None
    name = name or episode_name(episode.task, episode.seed, shift=shift_name)
    paths = {suffix: folder / f"{name}{suffix}" for suffix in SUFFIXES}
    folder.mkdir(parents=True, exist_ok=True)
    _save_npz(paths[".state.npz"], {**episode.state_arrays(), "body_names": np.asarray(episode.body_names, dtype=str)})
    # Depth is read back on every extraction; float depth barely compresses, and decompressing cost more
    # than the tracking of a clip, so it is stored plainly.
    depth_arrays = {"depth": episode.depth.astype(np.float32), "cam_to_world": episode.cam_to_world}
    _save_npz(paths[".depth.npz"], depth_arrays, compressed=False)
    if episode.segmentation is not None:
        paths[SEGMENTATION_SUFFIX] = folder / f"{name}{SEGMENTATION_SUFFIX}"
        _save_npz(paths[SEGMENTATION_SUFFIX], {"segmentation": episode.segmentation.astype(np.int32)})
    atomic_write_json(paths[".json"], _sidecar(episode))
    write_mp4(episode.rgb, paths[".mp4"], fps=episode.fps, crf=crf)
    return paths


def _sidecar(episode: Episode) -> dict[str, Any]:
    return {
        "instruction": episode.instruction,
        "intrinsics": np.asarray(episode.intrinsics, dtype=np.float64).tolist(),
        "embodiment": "sim",
        "fps": float(episode.fps),
        "task": episode.task,
        "seed": int(episode.seed),
        "camera": episode.camera,
        "shift": None if episode.shift is None else episode.shift.label,  # NAME@SEVERITY below full severity
        "shift_seed": None if episode.shift is None else int(episode.shift.seed),
        "source": "metaworld",
        "num_frames": episode.num_frames,
        "success": episode.succeeded,
    }


def read_episode(folder: str | Path, name: str) -> Episode:
    """Load an episode written by :func:`write_episode` (RGB decoded from the mp4, so lossy)."""
    folder = Path(folder)
    missing = [f"{name}{suffix}" for suffix in SUFFIXES if not (folder / f"{name}{suffix}").is_file()]
    if missing:
        raise FileNotFoundError(f"episode {name!r} in {folder}: missing {', '.join(missing)}")
    meta = json.loads((folder / f"{name}.json").read_text())
    with np.load(folder / f"{name}.depth.npz") as depth_file, np.load(folder / f"{name}.state.npz") as state_file:
        depth = {key: depth_file[key] for key in depth_file.files}
        state = {key: state_file[key] for key in STATE_FIELDS}
        body_names = state_file["body_names"].tolist() if "body_names" in state_file.files else []
    segmentation = None
    if (folder / f"{name}{SEGMENTATION_SUFFIX}").is_file():
        with np.load(folder / f"{name}{SEGMENTATION_SUFFIX}") as seg_file:
            segmentation = seg_file["segmentation"]
    shift: Shift | None = None
    if meta.get("shift"):
        shift = sample_shift(meta["shift"], seed=int(meta["shift_seed"]))
    return Episode(
        task=meta["task"],
        seed=int(meta["seed"]),
        instruction=meta["instruction"],
        camera=meta["camera"],
        fps=float(meta["fps"]),
        rgb=read_mp4(folder / f"{name}.mp4"),
        depth=depth["depth"],
        intrinsics=np.asarray(meta["intrinsics"], dtype=np.float32),
        cam_to_world=depth["cam_to_world"],
        body_names=body_names,
        shift=shift,
        segmentation=segmentation,
        **state,
    )
