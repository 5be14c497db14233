"""``dynaflip-probe``: linear probes of control-relevant state on frozen image features, in and out of
distribution (the "control-relevant score" probes of Dong et al., ICLR 2026).

Commands:
  build-data   render a probe dataset from Meta-World v3 scripted-expert episodes with ground-truth labels
  run          probe one or more encoders on a probe dataset; writes OUT/<encoder>/results.json,
               results.md, probes.png and episodes.json (the per-episode sums dynaflip-report pairs on)
  health       effective rank, first-PC share and consecutive-frame ratio of encoders' features (collapse
               check for a checkpoint of your own)

Dataset (build-data): per task, episode i uses seed SEED+i; the first episodes train, the next
--val-episodes validate, the last --test-episodes test (splits by episode, never by frame). From each
episode --frames-per-episode frames are drawn, one per equal bin of its steps. Labels per frame:
end-effector position (m), gripper opening, main object position (m), task index, and the future 3D flow
of a GxG query grid (--grid-size) --horizon control steps ahead (Meta-World runs at 80 steps/s), in the
frame's camera coordinates, with a validity mask. OOD splits test-<shift> re-render the test states under
one visual shift each (camera, lighting, table, distractors, occlusion): same labels, other pixels.

Probes (run): suites control (ee_pos, gripper, object_pos), flow (future_flow, over valid entries) and task
(accuracy). One linear layer per probe on standardised features projected on their leading principal
components (--pca-dims auto: one per 10 training frames), predictions clipped to the training label range;
learning rate, weight decay and step are selected on validation episodes; --seeds re-draw the train/val
episodes and the init. Regression probes are scored by score = 1 - MSE / MSE(training label mean) (1 perfect,
0 = the constant training mean), position probes also by RMSE in cm; the median score over probes per split.
Scores on test-id ("id") and each shift are means over seeds with a 95 % bootstrap interval over test
episodes and seeds (none when there are too few test episodes). Under the camera shift the future flow is
re-expressed for the shifted camera.

Examples:
  dynaflip-probe build-data --out data/probe --suite quick --episodes-per-task 10 --image-size 224 --workers 2
  dynaflip-probe run --data data/probe --encoder random:vit_small_patch16_224 --encoder timm:vit_small_patch14_dinov2 \\
      --out results/probe --seeds 3
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from dynaflip.errors import USER_ERRORS
from dynaflip.sim.backend import import_torch_first

from .probe.sweep import SweepConfig

DEFAULT_SUITES = "control,flow,task"


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(value) for value in text.split(",") if value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _csv(values: tuple[float, ...]) -> str:
    return ",".join(f"{value:g}" for value in values)


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except for required options and options without one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.required or action.default in (None, False) or action.default is argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action) or ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynaflip-probe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    defaults = _Help
    build = commands.add_parser(
        "build-data", help="render a probe dataset with ground-truth labels", formatter_class=defaults
    )
    build.add_argument("--out", required=True, help="dataset folder (dataset.json + one npz per split)")
    build.add_argument("--tasks", nargs="+", default=None, help="Meta-World v3 tasks (space or comma separated)")
    build.add_argument("--suite", default="quick", choices=["quick", "full"], help="task suite when --tasks is absent")
    build.add_argument("--episodes-per-task", type=int, default=10, help="episodes per task, all splits together")
    build.add_argument("--val-episodes", type=int, default=2, help="validation episodes per task")
    build.add_argument("--test-episodes", type=int, default=2, help="test episodes per task (re-rendered per shift)")
    build.add_argument("--frames-per-episode", type=int, default=10, help="frames drawn per episode (stratified)")
    build.add_argument("--horizon", type=int, default=8, help="flow horizon h in control steps (80 steps/s)")
    build.add_argument("--grid-size", type=int, default=8, help="query grid G (G x G points) of the flow label")
    build.add_argument("--image-size", type=int, default=224, help="rendered frame size in pixels (square)")
    build.add_argument("--camera", default="corner", help="Meta-World camera (corner: the Lift3D view)")
    build.add_argument("--max-steps", type=int, default=200, help="episode step limit")
    build.add_argument("--shifts", default="camera,lighting,table,distractors,occlusion", help="OOD shifts")
    build.add_argument("--seed", type=int, default=0, help="first episode seed")
    build.add_argument("--workers", type=int, default=1, help="worker processes (forkserver; one GL context each)")
    build.add_argument("--overwrite", action="store_true", help="rebuild a folder made with other settings")
    build.add_argument("--no-progress", action="store_true")

    run = commands.add_parser("run", help="probe encoders on a probe dataset", formatter_class=defaults)
    run.add_argument("--data", required=True, help="probe dataset folder (from build-data)")
    run.add_argument(
        "--encoder",
        action="append",
        required=True,
        metavar="SPEC",
        help="encoder spec (repeatable): PATH, dynaflip:, timm:NAME, random:NAME?k=v, hf:PATH, open_clip:",
    )
    run.add_argument("--out", required=True, help="output folder; results go to OUT/<encoder name>/")
    run.add_argument("--seeds", type=int, default=3, help="probe seeds (re-drawn train/val episodes and init)")
    run.add_argument("--last-n", type=int, default=1, help="concatenate [CLS; mean patch] of the last n blocks")
    run.add_argument("--suites", default=DEFAULT_SUITES, help="comma-separated probe suites: control, flow, task")
    run.add_argument(
        "--cache",
        default=None,
        help="feature cache folder (default: $DYNAFLIP_CACHE/features, else ~/.cache/dynaflip/features)",
    )
    run.add_argument(
        "--pca-dims",
        default="auto",
        help="probe inputs: 'auto' (one principal component per 10 training frames, all dims when enough), "
        "'none' (all standardised dims) or a number of components",
    )
    run.add_argument(
        "--bootstrap-samples", type=int, default=2000, help="resamples of test episodes and seeds for intervals"
    )
    run.add_argument("--batch-size", type=int, default=64, help="images per encoder forward pass")
    run.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (auto: cuda when available)")
    run.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads for features and probes (0: torch's choice; on a busy machine 1 can be much faster)",
    )
    sweep = SweepConfig()
    run.add_argument("--lrs", type=_floats, default=_csv(sweep.lrs), help="learning-rate grid of the probe sweep")
    run.add_argument(
        "--weight-decays",
        type=_floats,
        default=_csv(sweep.weight_decays),
        help="weight-decay (L2) grid of the probe sweep",
    )
    run.add_argument("--steps", type=int, default=sweep.steps, help="full-batch Adam steps per probe")
    run.add_argument("--eval-every", type=int, default=sweep.eval_every, help="validation checkpoints every n steps")
    run.add_argument("--no-progress", action="store_true")
    from .probe.health import add_parser as add_health_parser

    add_health_parser(commands, formatter_class=defaults)
    return parser


def _tasks(args: argparse.Namespace) -> tuple[str, ...]:
    from dynaflip.sim import QUICK_SUITE, TASK_SUITE

    if args.tasks:
        return tuple(task.strip() for item in args.tasks for task in item.split(",") if task.strip())
    return tuple(QUICK_SUITE if args.suite == "quick" else TASK_SUITE)


def _build(args: argparse.Namespace) -> int:
    from dynaflip.output_folder import check_output_folder

    from .probe import BuildSettings, build_probe_dataset

    check_output_folder(args.out)  # before rendering anything
    settings = BuildSettings(
        tasks=_tasks(args),
        episodes_per_task=args.episodes_per_task,
        val_episodes=args.val_episodes,
        test_episodes=args.test_episodes,
        frames_per_episode=args.frames_per_episode,
        horizon=args.horizon,
        grid_size=args.grid_size,
        image_size=args.image_size,
        camera=args.camera,
        max_steps=args.max_steps,
        seed=args.seed,
        shifts=tuple(shift.strip() for shift in args.shifts.split(",") if shift.strip()),
    )
    summary = build_probe_dataset(
        args.out, settings=settings, workers=args.workers, overwrite=args.overwrite, progress=not args.no_progress
    )
    print(summary)
    return 0


def output_name(name: str, taken: set[str]) -> str:
    """A folder name for an encoder: its display name made file-safe, unique within this run."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "encoder"
    candidate, index = slug, 2
    while candidate in taken:
        candidate, index = f"{slug}-{index}", index + 1
    taken.add(candidate)
    return candidate


def _device(text: str) -> str:
    import torch

    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if text.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device: {text!r} asked for, but torch sees no CUDA device")
    return text


def _load_encoder(spec: str, *, last_n: int):
    from .encoders import EncoderSpecError, load_eval_encoder

    try:
        return load_eval_encoder(spec, last_n=last_n)
    except EncoderSpecError:
        raise
    except (*USER_ERRORS, ValueError, KeyError, ImportError) as error:  # not RuntimeError: CUDA OOM keeps its traceback
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise EncoderSpecError(f"encoder '{spec}': {first}") from None


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    """torch's CPU thread count for this block (0: unchanged), restored afterwards."""
    import torch

    if count < 0:
        raise ValueError(f"--threads: expected >= 0, got {count}")
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _sweep(args: argparse.Namespace) -> SweepConfig:
    sweep = SweepConfig(lrs=args.lrs, weight_decays=args.weight_decays, steps=args.steps, eval_every=args.eval_every)
    sweep.check()
    return sweep


def _run(args: argparse.Namespace) -> int:
    from dynaflip.hub.cache import cache_root
    from dynaflip.output_folder import check_output_folder

    from .encoders import check_spec
    from .feature_cache import FeatureCache
    from .probe import ProbeDataset, resolve_suites, run_probes
    from .probe.outputs import write_probe_outputs
    from .probe.report import table
    from .results import encoder_summary

    probes = resolve_suites(args.suites)
    for option in ("seeds", "last_n", "batch_size", "bootstrap_samples"):
        if getattr(args, option) < 1:
            raise ValueError(f"--{option.replace('_', '-')}: expected >= 1, got {getattr(args, option)}")
    check_output_folder(args.out)  # every input checked before the first encoder's features are computed
    for spec in args.encoder:
        check_spec(spec)
    dataset = ProbeDataset(args.data)
    sweep, device = _sweep(args), _device(args.device)
    cache = FeatureCache(Path(args.cache) if args.cache else cache_root() / "features")
    taken: set[str] = set()
    lines = []
    with _threads(args.threads):
        for spec in args.encoder:
            started = time.perf_counter()
            encoder = _load_encoder(spec, last_n=args.last_n)
            result = run_probes(
                dataset,
                encoder,
                probes=probes,
                cache=cache,
                seeds=args.seeds,
                sweep=sweep,
                pca_dims=args.pca_dims,
                bootstrap_samples=args.bootstrap_samples,
                batch_size=args.batch_size,
                device=device,
                progress=not args.no_progress,
            )
            result.timing["seconds"] = time.perf_counter() - started  # loading the encoder included
            folder = write_probe_outputs(
                Path(args.out) / output_name(encoder.name, taken),
                encoder=encoder_summary(encoder),
                run=result,
                title=f"{encoder.name} on probe data {dataset.dataset_id}",
            )
            timing = result.timing
            lines.append(
                f"{encoder.name}: {timing['seconds']:.1f} s wall (features {timing['feature_seconds']:.1f} s, "
                f"{timing['images_encoded']} images at {timing['images_per_second']:.1f} img/s, "
                f"{timing['cached_splits']} split(s) cached; probes {timing['probe_seconds']:.1f} s) -> {folder}"
            )
            lines.append(table(result.rows, metrics=("score", "accuracy")))
            del encoder
    print("\n\n".join(lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dynaflip-probe``; returns the exit status (2 with a one-line error on bad input)."""
    import_torch_first()  # before any MuJoCo GL context exists: see dynaflip.sim.backend
    args = build_parser().parse_args(argv)
    try:
        if args.command == "health":
            from .probe.health import run as run_health

            return run_health(args, load_encoder=_load_encoder)
        return _build(args) if args.command == "build-data" else _run(args)
    # The project's errors (bad probe data, encoder spec, result file), OS errors and the option checks'
    # ValueErrors; anything else (a CUDA out-of-memory RuntimeError) keeps its traceback.
    except (*USER_ERRORS, ValueError) as error:
        print(f"dynaflip-probe: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
