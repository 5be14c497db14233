"""Extraction throughput: the whole pipeline against decoding alone on the same videos.

Decoding alone opens every clip and decodes exactly the frames the pipeline decodes (the same windows);
the pipeline then runs end to end (decode, track, depth, camera motion, lift, encode + write shards). Prints
clips/s of both, their ratio, and the share of pipeline time per stage (from the run's manifest). The aim: on
the CPU with the default tracker, the pipeline runs at >= 1/3 of the decode-only rate at camera resolution,
with the camera motion estimated (the generated episodes record their camera poses, which the pipeline would
use instead; ``ego_motion.mode=estimate`` makes it estimate the motion as for video without poses).

    .venv/bin/python bench/extract.py                         # Meta-World episodes generated on the spot
    .venv/bin/python bench/extract.py --source-size 480 640                    # camera-resolution sources
    .venv/bin/python bench/extract.py --source-size 480 640 ego_motion.mode=estimate   # + ego-motion estimation
    .venv/bin/python bench/extract.py --videos my_videos/ assume_fovy_degrees=60   # your folder
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: F401  (before any MuJoCo GL context)
import torchvision  # noqa: F401

from dynaflip.config import load_config
from dynaflip.extract.cli import DEFAULT_CONFIG
from dynaflip.extract.clip_processor import DECODED_BYTES_BUDGET
from dynaflip.extract.config import ExtractConfig
from dynaflip.extract.runner import collect_clips, run_extraction
from dynaflip.extract.sampling import clip_rng, plan_windows, window_batches
from dynaflip.extract.sources import iter_folder_clips
from dynaflip.extract.video import VideoReader, clear_index_cache


def decode_only(clips, config: ExtractConfig) -> float:
    """Seconds to decode every frame the pipeline will decode, the way it decodes them: the frame index
    (read once per file), then the windows' frames batch by batch, resized to the extraction size."""
    clear_index_cache()
    start = time.perf_counter()
    for clip in clips:
        with VideoReader(clip.video_path, short_side=config.output.image_size) as video:
            numbers = video.index.between(clip.start_seconds, clip.end_seconds)
            rng = clip_rng(clip.clip_id, config.seed)
            windows = plan_windows(video.index.timestamps[numbers], config=config.sampling, rng=rng)
            budget = max(64, DECODED_BYTES_BUDGET // (video.width * video.height * 3))
            for batch in window_batches(windows, max_frames=budget):
                video.read(sorted({int(numbers[0]) + i for window in batch for i in window.frames}))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", help="a plain video folder (default: generate Meta-World episodes)")
    parser.add_argument("--episodes-per-task", type=int, default=4)
    parser.add_argument(
        "--source-size", type=int, nargs=2, default=(224, 224), metavar=("H", "W"),
        help="resolution of the generated videos (default 224 224); frames are resized at decode time",
    )  # fmt: skip
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "dynaflip-bench-videos"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    config = load_config(
        ExtractConfig, files=[DEFAULT_CONFIG], overrides=["output.text_embeddings=false", *args.overrides]
    )

    videos = args.videos
    if videos is None:
        from dynaflip.sim import QUICK_SUITE, generate_episodes

        height, width = args.source_size
        videos = args.cache if (height, width) == (224, 224) else f"{args.cache}-{height}x{width}"
        generate_episodes(
            list(QUICK_SUITE), episodes_per_task=args.episodes_per_task, out_dir=videos, image_size=(height, width),
            progress=True,
        )  # fmt: skip
    clips, _ = collect_clips(iter_folder_clips(videos, default_embodiment="sim"))
    print(
        f"# {len(clips)} clips from {videos}; {config.sampling.references_per_clip} windows per clip, "
        f"tracking at <= {config.sampling.track_fps} fps, {config.output.image_size} px, workers {args.workers}, "
        f"tracker {config.tracking.backend}, ego-motion {config.ego_motion.mode}"
    )

    # Warm both sides alike (file cache, PyAV, lazy imports, first-call costs): a multi-hour run pays those once.
    decode_only(clips[:1], config)
    with tempfile.TemporaryDirectory() as warm:
        run_extraction(clips[:1], out_dir=warm, config=config, source="bench", workers=args.workers, progress=False)
    decode_seconds = decode_only(clips, config)
    with tempfile.TemporaryDirectory() as out:
        clear_index_cache()
        start = time.perf_counter()
        summary = run_extraction(
            clips, out_dir=out, config=config, source="bench", workers=args.workers, progress=False
        )
        pipeline_seconds = time.perf_counter() - start
    decode_rate = len(clips) / decode_seconds
    pipeline_rate = len(clips) / pipeline_seconds
    print(f"decode only     {decode_rate:8.2f} clips/s  ({decode_seconds:.2f} s)")
    print(f"whole pipeline  {pipeline_rate:8.2f} clips/s  ({pipeline_seconds:.2f} s, {summary.samples} samples)")
    print(f"ratio pipeline / decode-only: {pipeline_rate / decode_rate:.2f} (aim: >= 0.33)")
    stages = summary.manifest.get("seconds", {})
    total = sum(stages.values()) or 1.0
    print("share of pipeline time: " + ", ".join(f"{k} {v / total:.0%}" for k, v in stages.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
