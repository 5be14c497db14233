"""Tracker retention on fast object motion: each tracking backend on rendered MuJoCo scenes of a fast, tumbling
box (ground truth from ray casting), at several speeds.

For the box points truly in view at the last frame of a 1 s window (20 frames at 20 fps, 224 px, 40x40 grid),
prints the share each backend still tracks there ("kept"), the share kept within 3 px of the truth
("correct"), the 3D error of the kept points (lifted with the rendered depth) and the tracking time as a
ratio to the old default (Lucas-Kanade, 15 px window, 3 levels) in the same process.

    .venv/bin/python bench/tracking.py                      # speeds 0.4 0.7 1.0
    .venv/bin/python bench/tracking.py --speeds 0.5 --grid 20
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' scene helpers

import numpy as np
import torch  # noqa: F401  (before any MuJoCo GL context)
import torchvision  # noqa: F401

from dynaflip.extract.tracking import create_tracker
from tests.helpers.moving_box import MovingBoxScene, fast_box_trajectories, object_retention

BACKENDS = {
    "lk old default (15 px, 3 levels)": ("opencv-lk", {"window": 15, "pyramid_levels": 3}),
    "lk larger (21 px, 4 levels)": ("opencv-lk", {"window": 21, "pyramid_levels": 4}),
    "lk larger (31 px, 5 levels)": ("opencv-lk", {"window": 31, "pyramid_levels": 5}),
    "lk smaller (9 px, 3 levels)": ("opencv-lk", {"window": 9, "pyramid_levels": 3}),
    "dis medium chained, no refinement": ("opencv-dis", {"preset": "medium", "refine_window": 0}),
    "dis medium + 9 px lk refinement": ("opencv-dis", {"preset": "medium"}),
    "opencv-dis default (ultrafast + 9 px)": ("opencv-dis", {}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speeds", type=float, nargs="+", default=[0.4, 0.7, 1.0])
    parser.add_argument("--grid", type=int, default=40)
    parser.add_argument("--frames", type=int, default=21)
    parser.add_argument(
        "--backend", action="append", default=[], metavar="LABEL=NAME:YAML_OPTIONS",
        help="measure this backend instead of the built-in list, e.g. 'dis-fb2=opencv-dis:{fb_threshold: 2}'",
    )  # fmt: skip
    args = parser.parse_args(argv)
    backends = BACKENDS
    if args.backend:
        import yaml

        backends = {"lk old default (15 px, 3 levels)": BACKENDS["lk old default (15 px, 3 levels)"]}
        for spec in args.backend:
            label, _, rest = spec.partition("=")
            name, _, options = rest.partition(":")
            backends[label] = (name, yaml.safe_load(options) or {})
    with tempfile.TemporaryDirectory() as assets:
        for speed in args.speeds:
            clips = []
            for trajectory in fast_box_trajectories(speed):
                scene = MovingBoxScene(Path(assets), trajectory=trajectory)
                rgb, depth = scene.render(args.frames)
                clips.append((scene, rgb, depth))
            print(f"\n# speed {speed:g}: {len(clips)} clips, {args.frames} frames, grid {args.grid}x{args.grid}")
            print(f"{'backend':38s} {'kept':>6s} {'correct':>8s} {'3D err median':>14s} {'p90':>9s} {'time':>6s}")
            baseline = None
            for label, (name, options) in backends.items():
                tracker = create_tracker(name, **options)
                scores = [
                    object_retention(scene, rgb, depth, tracker, grid_size=args.grid) for scene, rgb, depth in clips
                ]
                seconds = sum(s["seconds"] for s in scores)
                baseline = baseline or seconds
                total = sum(s["total"] for s in scores)
                kept = sum(s["kept"] for s in scores)
                error2d = np.concatenate([s["error2d"] for s in scores])
                error3d = np.concatenate([s["error3d"] for s in scores]) * 1000
                correct = int((error2d <= 3).sum())
                median, p90 = (np.median(error3d), np.quantile(error3d, 0.9)) if kept else (np.nan, np.nan)
                print(
                    f"{label:38s} {kept / total:6.1%} {correct / total:8.1%} {median:11.1f} mm {p90:6.0f} mm "
                    f"x{seconds / baseline:.2f}   (of {total} points)",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
