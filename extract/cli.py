"""``dynaflip-extract``: mine image-language-3D-flow triplets from videos into webdataset shards.

Sources (one subcommand each):
  folder               NAME.mp4 + NAME.json sidecars (+ NAME.depth.npz), or a JSONL/CSV manifest
  ssv2                 Something-Something v2 videos + labels JSON
  narrations           long videos cut by a narration table (EPIC-Kitchens-100, Ego4D, generic)
  lerobot              a LeRobot dataset on disk (v2.x or v3.x layout): one clip per episode and camera
  metaworld            simulated robot episodes (scripted experts, MuJoCo): generate, then extract
  metaworld-generate   only generate the episodes, as a plain folder
Tools:
  visualize            draw tracks and 3D flow of a few samples to PNG
  finalize             rebuild manifest.json / sizes.json from the shard records (after multi-node runs)

Settings come from YAML (--config, repeatable; defaults in configs/extract/default.yaml) and trailing
key=value overrides, e.g. ``sampling.horizon_seconds=0.5 depth.backend=none depth.allow_2_5d=true``.

Examples:
  dynaflip-extract metaworld --out data/metaworld --tasks reach-v3,button-press-topdown-v3 --episodes-per-task 4
  dynaflip-extract folder my_videos/ --out data/mine --workers 2 assume_fovy_degrees=60
  dynaflip-extract ssv2 --videos ssv2/videos --labels ssv2/labels/train.json --out data/ssv2 \\
      depth.backend=depth-anything depth.options.model_path=/models/depth-anything-v2-small
  dynaflip-extract lerobot ~/.cache/huggingface/lerobot/lerobot/pusht --out data/pusht --episodes 0-99 \\
      assume_fovy_degrees=60 depth.backend=none depth.allow_2_5d=true
  dynaflip-extract visualize data/metaworld --out data/metaworld/preview
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dynaflip.cli_utils import parse_with_overrides
from dynaflip.config import load_config
from dynaflip.errors import USER_ERRORS

from .config import ExtractConfig

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "extract" / "default.yaml"
FOLDER_HELP = """Extract a folder of your own videos: each NAME.mp4 (or .mov, .webm, .mkv, .avi) next to a NAME.json
sidecar, optionally NAME.depth.npz (recorded depth: 'depth' float32 (T, H, W) in metres, one map per video frame,
0/NaN where unknown; optional 'cam_to_world' (T, 4, 4)) and NAME.state.npz (per-frame robot state, kept in the
samples); subfolders are searched. Without recorded depth, set depth.backend (e.g. depth-anything) or
depth.backend=none depth.allow_2_5d=true.

Sidecar (JSON object):
  instruction     required: what happens in the clip, e.g. "open the drawer"
  intrinsics      3x3 camera matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels of the native video;
                  without it, set assume_fovy_degrees=<vertical field of view> (refused otherwise)
  embodiment      human, robot or sim (default: --embodiment)
  start_seconds, end_seconds   a clip of the video (default: all of it)
  source, video_id, clip_id    names kept in the samples; any other field is kept in the sample's extras
--manifest FILE (JSONL, CSV or TSV) lists the clips instead, one row each, with the same fields plus
'video' (and optionally 'depth', 'state'), paths relative to the manifest's folder.

Example sidecar clips/pour.json: {"instruction": "pour water into the cup",
  "intrinsics": [[600, 0, 320], [0, 600, 240], [0, 0, 1]], "embodiment": "human"}

Examples:
  dynaflip-extract folder clips/ --out data/mine --workers 2
  dynaflip-extract folder clips/ --out data/mine assume_fovy_degrees=60 depth.backend=none depth.allow_2_5d=true
  dynaflip-extract folder clips/ --manifest clips.jsonl --out data/mine --limit 10 --no-progress
"""


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder for shards, manifest.json and sizes.json")
    parser.add_argument("--config", action="append", default=[], help="YAML config (repeatable, later wins)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    parser.add_argument(
        "--num-nodes", type=int, default=None, help="machines sharing the job (default: Slurm array size, else 1)"
    )
    parser.add_argument("--node-rank", type=int, default=None, help="this machine's index (default: Slurm array index)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips (sorted by id)")
    parser.add_argument("--overwrite", action="store_true", help="start over in a folder made with other settings")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynaflip-extract", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    folder = commands.add_parser(
        "folder",
        help="a folder of videos with sidecars or a manifest",
        description=FOLDER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    folder.add_argument("root", help="folder of videos")
    folder.add_argument("--manifest", help="JSONL/CSV manifest replacing the sidecars")
    folder.add_argument("--embodiment", default="human", choices=["human", "robot", "sim"], help="default embodiment")
    _add_run_options(folder)

    ssv2 = commands.add_parser("ssv2", help="Something-Something v2")
    ssv2.add_argument("--videos", required=True, help="folder of <id>.webm videos")
    ssv2.add_argument("--labels", required=True, help="labels JSON (train.json / validation.json)")
    _add_run_options(ssv2)

    narrations = commands.add_parser("narrations", help="long videos cut into clips by a narration table")
    narrations.add_argument("--videos", required=True, help="folder of videos")
    narrations.add_argument("--table", required=True, help="narration table (CSV/TSV/JSONL or Ego4D JSON)")
    narrations.add_argument("--preset", default="epic-kitchens-100", choices=["epic-kitchens-100", "ego4d", "generic"])
    narrations.add_argument(
        "--columns", help="generic preset: video_id,start,stop,text column names, comma-separated, in that order"
    )
    _add_run_options(narrations)

    lerobot = commands.add_parser("lerobot", help="a LeRobot dataset on disk (v2.x or v3.x layout)")
    lerobot.add_argument("root", help="the dataset folder (holds meta/info.json)")
    lerobot.add_argument(
        "--camera",
        action="append",
        default=None,
        metavar="KEY",
        help="camera feature to extract, e.g. observation.images.top (repeatable; default: every video or image "
        "feature that is not a depth map)",
    )
    lerobot.add_argument("--episodes", metavar="SPEC", help="episode indices and ranges, e.g. 0-9,12 (default: all)")
    lerobot.add_argument(
        "--depth-key",
        action="append",
        default=[],
        metavar="CAMERA=DEPTH",
        help="use depth video feature DEPTH as the recorded depth of CAMERA (default: paired by name)",
    )
    lerobot.add_argument(
        "--moving-camera",
        action="append",
        default=None,
        metavar="KEY",
        help="a camera that moves (repeatable; 'all' for a mobile robot): its camera motion is estimated. Default: "
        "wrist, hand, gripper, eef and head cameras move, the others are fixed and not estimated",
    )
    _add_run_options(lerobot)

    metaworld = commands.add_parser("metaworld", help="simulated robot episodes: generate, then extract")
    _add_generation_options(metaworld, out_help=None)
    _add_run_options(metaworld)

    generate = commands.add_parser("metaworld-generate", help="only generate simulated episodes to a folder")
    _add_generation_options(generate, out_help="output folder of NAME.mp4/.json/.depth.npz/.state.npz")
    generate.add_argument("--workers", type=int, default=1)
    generate.add_argument("--no-progress", action="store_true")

    visualize = commands.add_parser("visualize", help="draw tracks and 3D flow of a few samples")
    visualize.add_argument("shards", help="extraction folder, or shard paths / a brace pattern")
    visualize.add_argument("--out", required=True, help="folder for the PNGs")
    visualize.add_argument("--count", type=int, default=6)

    finalize = commands.add_parser("finalize", help="rebuild manifest.json and sizes.json from shard records")
    finalize.add_argument("folder")
    return parser


def _add_generation_options(parser: argparse.ArgumentParser, *, out_help: str | None) -> None:
    if out_help is not None:
        parser.add_argument("--out", required=True, help=out_help)
    else:
        parser.add_argument("--videos", default=None, help="folder for the generated episodes (default: OUT/videos)")
    parser.add_argument("--tasks", default=None, help="comma-separated Meta-World v3 tasks (default: the quick suite)")
    parser.add_argument("--suite", default="quick", help="task suite when --tasks is not given: quick or full")
    parser.add_argument("--episodes-per-task", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="first episode seed")
    parser.add_argument("--image-size", type=int, default=224, help="rendered frame size (square)")
    parser.add_argument("--camera", default="corner")
    parser.add_argument("--max-steps", type=int, default=200)


def _slurm_array() -> tuple[int, int] | None:
    if "SLURM_ARRAY_TASK_ID" not in os.environ:
        return None
    first = int(os.environ.get("SLURM_ARRAY_TASK_MIN", "0"))
    count = int(os.environ.get("SLURM_ARRAY_TASK_COUNT", "1"))
    return int(os.environ["SLURM_ARRAY_TASK_ID"]) - first, count


def _load_config(args: argparse.Namespace) -> ExtractConfig:
    files = [DEFAULT_CONFIG, *args.config] if DEFAULT_CONFIG.is_file() else list(args.config)
    return load_config(ExtractConfig, files=files, overrides=args.overrides)


def _run(args: argparse.Namespace, items, source: str) -> int:
    from .runner import run_extraction

    config = _load_config(args)
    rank, nodes = args.node_rank, args.num_nodes
    array = _slurm_array()
    if nodes is None:
        nodes = array[1] if array else 1
    if rank is None:
        rank = array[0] if array else 0
    summary = run_extraction(
        items,
        out_dir=args.out,
        config=config,
        source=source,
        workers=args.workers,
        num_nodes=nodes,
        node_rank=rank,
        limit=args.limit,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print("\n".join(summary.lines()))
    return 0


def _generate(args: argparse.Namespace, out_dir: str) -> None:
    from dynaflip.sim import QUICK_SUITE, TASK_SUITE, generate_episodes

    if args.tasks:
        tasks = [task.strip() for task in args.tasks.split(",") if task.strip()]
    elif args.suite in ("quick", "full"):
        tasks = list(QUICK_SUITE if args.suite == "quick" else TASK_SUITE)
    else:
        raise ValueError(f"--suite: expected quick or full, got {args.suite!r}")
    summary = generate_episodes(
        tasks,
        episodes_per_task=args.episodes_per_task,
        out_dir=out_dir,
        seed=args.seed,
        image_size=(args.image_size, args.image_size),
        camera=args.camera,
        max_steps=args.max_steps,
        workers=args.workers,
        progress=not args.no_progress,
    )
    print(f"generated episodes in {out_dir}: {summary}")


def main(argv: list[str] | None = None) -> int:
    args = parse_with_overrides(build_parser(), argv)
    try:
        return _dispatch(args)
    # The project's errors (ConfigError included), OSError (unwritable --out, missing input) and the ValueErrors of
    # option checks; anything else (a CUDA out-of-memory RuntimeError) keeps its traceback.
    except (*USER_ERRORS, ValueError) as error:
        print(f"dynaflip-extract: error: {error}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    from . import sources

    if args.command == "folder":
        items = sources.iter_folder_clips(
            args.root,
            manifest=args.manifest,
            default_embodiment=args.embodiment,
            intrinsics_required=_load_config(args).assume_fovy_degrees is None,
        )
        return _run(args, items, source="folder")
    if args.command == "ssv2":
        return _run(args, sources.iter_ssv2_clips(args.videos, args.labels), source="something-something-v2")
    if args.command == "narrations":
        columns = None
        if args.columns:
            names = [name.strip() for name in args.columns.split(",")]
            if len(names) != 4:
                raise ValueError(f"--columns: expected 4 names (video_id,start,stop,text), got {args.columns!r}")
            columns = dict(zip(("video_id", "start", "stop", "text"), names, strict=True))
        items = sources.iter_narration_clips(args.videos, args.table, preset=args.preset, columns=columns)
        return _run(args, items, source=args.preset)
    if args.command == "lerobot":
        depth_keys = {}
        for pair in args.depth_key:
            camera, _, depth = pair.partition("=")
            if not camera or not depth:
                raise ValueError(f"--depth-key: expected CAMERA=DEPTH, got {pair!r}")
            depth_keys[camera] = depth
        items = sources.iter_lerobot_clips(
            args.root,
            cameras=args.camera,
            episodes=args.episodes,
            depth_keys=depth_keys,
            image_cache=_local_folder(args.out, "lerobot-images"),
            intrinsics_required=_load_config(args).assume_fovy_degrees is None,
            moving_cameras=args.moving_camera,
        )
        return _run(args, items, source="lerobot")
    if args.command == "metaworld":
        videos = args.videos or str(_local_folder(args.out, "videos"))
        _generate(args, videos)
        return _run(args, sources.iter_folder_clips(videos, default_embodiment="sim"), source="metaworld")
    if args.command == "metaworld-generate":
        _generate(args, args.out)
        return 0
    if args.command == "visualize":
        from .visualize import visualize_shards

        paths = visualize_shards(_shard_list(args.shards), Path(args.out), count=args.count)
        print(f"wrote {len(paths)} images to {args.out}")
        return 0
    if args.command == "finalize":
        from .manifest import finalize

        manifest = finalize(args.folder)  # a local folder or a remote prefix
        print(f"{args.folder}: {manifest['num_samples']} samples, complete: {manifest['complete']}")
        return 0
    raise AssertionError(args.command)


def _local_folder(out: str, name: str) -> Path:
    """A working folder next to the shards; with a remote --out, under the temporary directory instead."""
    from dynaflip import remote_io

    if remote_io.is_remote(out):
        import hashlib
        import tempfile

        digest = hashlib.sha256(out.encode()).hexdigest()[:12]  # the same --out reuses it on a rerun
        return Path(tempfile.gettempdir()) / f"dynaflip-{name}-{digest}"
    return Path(out) / name


def _shard_list(spec: str) -> list[str]:
    from dynaflip import remote_io

    if remote_io.is_remote(spec) and "{" not in spec:
        return remote_io.shard_urls(spec)  # an extraction prefix: its shards from sizes.json
    path = Path(spec)
    if path.is_dir():
        shards = sorted(str(p) for p in path.glob("shard-*.tar"))
        if not shards:
            raise FileNotFoundError(f"{spec}: no shard-*.tar files in this folder")
        return shards
    import braceexpand

    return list(braceexpand.braceexpand(spec))


if __name__ == "__main__":
    raise SystemExit(main())
