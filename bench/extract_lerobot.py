"""The LeRobot source: seeking inside shared v3 files, and the whole pipeline against decoding alone.

A v3.0 dataset (generated here, or ``--root``) keeps many episodes in each mp4. Three measurements on the
same files, in this process:

1. seek: decode each episode's span the way the pipeline's reader does (keyframe before the span, then
   forward); frames decoded vs frames needed.
2. from start: the baseline without seeking, every episode decoded from its file's first frame.
   Printed: the time ratio seek / from-start and both frames-decoded ratios. The seek path must decode about
   the frames it needs (ratio ~1, plus at most a GOP per episode), not a growing prefix of the file.
3. pipeline vs decode-only: the LeRobot source through the whole extraction against decoding exactly the
   frames the pipeline decodes (bench/extract.py's measure), clips/s and their ratio.

    .venv/bin/python bench/extract_lerobot.py                        # 24 episodes of 3 s, 8 per file, 320x240
    .venv/bin/python bench/extract_lerobot.py --episodes 48 --per-file 16 --gop 30
    .venv/bin/python bench/extract_lerobot.py --root ~/lerobot/pusht assume_fovy_degrees=60
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("SVT_LOG", "1")

import torch  # noqa: F401  (before anything that could create a GL context; see environment-notes)
import torchvision  # noqa: F401

REPO = Path(__file__).resolve().parents[1]

from dynaflip.config import load_config  # noqa: E402
from dynaflip.extract.cli import DEFAULT_CONFIG  # noqa: E402
from dynaflip.extract.config import ExtractConfig  # noqa: E402
from dynaflip.extract.runner import collect_clips, run_extraction  # noqa: E402
from dynaflip.extract.sources.lerobot import iter_lerobot_clips  # noqa: E402
from dynaflip.extract.video import VideoReader, clear_index_cache, decode_frames  # noqa: E402


class DecodedFrameCounter:
    """Counts the frames the reader's decoder produces (including those between a keyframe and the span)."""

    def __init__(self) -> None:
        self.frames = 0
        self._original = VideoReader._decoded

    def __enter__(self) -> DecodedFrameCounter:
        original, counter = self._original, self

        def counting(reader):
            for item in original(reader):
                counter.frames += 1
                yield item

        VideoReader._decoded = counting
        return self

    def __exit__(self, *exc: object) -> None:
        VideoReader._decoded = self._original


def decode_spans(clips, *, from_start: bool) -> tuple[float, int, int]:
    """(seconds, frames decoded, frames needed) to decode every clip's span, seeking or from the file start."""
    clear_index_cache()
    needed = 0
    with DecodedFrameCounter() as counter:
        start = time.perf_counter()
        for clip in clips:
            decoded = decode_frames(
                clip.video_path, start_seconds=None if from_start else clip.start_seconds, end_seconds=clip.end_seconds
            )
            inside = decoded.timestamps >= (clip.start_seconds or 0.0)
            needed += int(inside.sum())
        seconds = time.perf_counter() - start
    return seconds, counter.frames, needed


def generate(folder: Path, *, episodes: int, length: int, per_file: int, size: tuple[int, int], gop: int) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.helpers.lerobot_dataset import write_dataset

    root = folder / f"bench-v3-{episodes}x{length}-{per_file}perfile-{size[0]}x{size[1]}-g{gop}"
    if not (root / "meta/info.json").is_file():
        print(f"# writing {root} (AV1, GOP {gop}) ...", flush=True)
        write_dataset(
            root,
            version="v3.0",
            cameras={"observation.images.top": "libsvtav1"},
            episodes=[[(index % 2, length)] for index in range(episodes)],
            episodes_per_file=per_file,
            size=size,
            fps=30,
            codec_options={"g": str(gop)},
        )
    return root


def load_decode_only():
    """bench/extract.py's decode-only measure (the same windows and batches the pipeline decodes)."""
    spec = importlib.util.spec_from_file_location("bench_extract", Path(__file__).with_name("extract.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.decode_only


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", help="a LeRobot dataset folder (default: generate a v3.0 one)")
    parser.add_argument("--episodes", type=int, default=24)
    parser.add_argument("--length", type=int, default=90, help="frames per episode (30 fps)")
    parser.add_argument("--per-file", type=int, default=8, help="episodes per shared mp4")
    parser.add_argument("--size", type=int, nargs=2, default=(320, 240), metavar=("W", "H"))
    parser.add_argument("--gop", type=int, default=2, help="keyframe interval (LeRobot's default: 2)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "dynaflip-bench-lerobot"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    overrides = ["output.text_embeddings=false", "depth.backend=none", "depth.allow_2_5d=true"]
    if args.root is None:
        overrides.append("assume_fovy_degrees=60")
    config = load_config(ExtractConfig, files=[DEFAULT_CONFIG], overrides=[*overrides, *args.overrides])

    root = Path(args.root) if args.root else None
    if root is None:
        root = generate(
            Path(args.cache),
            episodes=args.episodes,
            length=args.length,
            per_file=args.per_file,
            size=tuple(args.size),
            gop=args.gop,
        )
    start = time.perf_counter()
    clips, skipped = collect_clips(iter_lerobot_clips(root, image_cache=Path(args.cache) / "images"))
    listing = time.perf_counter() - start
    files = len({clip.video_path for clip in clips})
    print(f"# {root}: {len(clips)} clips in {files} video files ({len(skipped)} skipped); listed in {listing:.2f} s")

    decode_spans(clips[:2], from_start=False)  # warm the file cache and lazy imports alike for both paths
    seek_seconds, seek_decoded, needed = decode_spans(clips, from_start=False)
    start_seconds, start_decoded, _ = decode_spans(clips, from_start=True)
    print(f"seek to each span     {seek_seconds:7.2f} s   frames decoded / needed: {seek_decoded / needed:5.2f}")
    print(f"decode from file start{start_seconds:7.2f} s   frames decoded / needed: {start_decoded / needed:5.2f}")
    print(
        f"ratio seek / from-start: time {seek_seconds / start_seconds:.2f}, frames decoded "
        f"{seek_decoded / start_decoded:.2f} ({needed} frames needed)"
    )

    decode_only = load_decode_only()
    decode_only(clips[:1], config)
    with tempfile.TemporaryDirectory() as warm:
        run_extraction(clips[:1], out_dir=warm, config=config, source="bench", workers=args.workers, progress=False)
    decode_seconds = decode_only(clips, config)
    with tempfile.TemporaryDirectory() as out:
        clear_index_cache()
        start = time.perf_counter()
        summary = run_extraction(
            clips, out_dir=out, config=config, source="lerobot", workers=args.workers, progress=False
        )
        pipeline_seconds = time.perf_counter() - start
    decode_rate, pipeline_rate = len(clips) / decode_seconds, len(clips) / pipeline_seconds
    print(f"decode only     {decode_rate:8.2f} clips/s  ({decode_seconds:.2f} s)")
    print(f"whole pipeline  {pipeline_rate:8.2f} clips/s  ({pipeline_seconds:.2f} s, {summary.samples} samples)")
    print(f"ratio pipeline / decode-only: {pipeline_rate / decode_rate:.2f}")
    stages = summary.manifest.get("seconds", {})
    total = sum(stages.values()) or 1.0
    print("share of pipeline time: " + ", ".join(f"{k} {v / total:.0%}" for k, v in stages.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
