"""The newcomer's main job (``scripts/demo.sh`` / ``dynaflip-demo``): the whole DynaFLIP path on data made on
the spot, from nothing to an evaluated encoder.

    simulated robot videos (Meta-World scripted experts, MuJoCo)
    -> image-language-3D-flow triplet shards (dynaflip-extract)
    -> a small DynaFLIP encoder and an image-only baseline trained on them (dynaflip-train)
    -> probes and a policy-transfer suite, in and out of distribution, beside the policy instrument's
       ceiling (oracle:state) and floor (blind) (dynaflip-probe, dynaflip-policy)
    -> a report: tracks and 3D flow, loss curves, the comparison table and bar charts (dynaflip-report)

Every step is one of the stage CLIs, run as a subprocess exactly as a user would type it (the commands are
printed), so the demo is also a worked example. Every step resumes: rerunning continues where it stopped,
and timing.json records each step's wall time and CPU time. Scale comes from a config (configs/demo.yaml for
this machine; configs/demo-ci.yaml is the test suite's smaller run; configs/paper.yaml the paper's settings
on a GPU node), with key=value overrides. ``dynaflip-study`` is the same driver with the controlled CPU study
(configs/study/cpu.yaml: more arms, pre-training seeds, held-out evaluation tasks). These recipes ship with the
package: a --config path that does not exist in the working directory is looked up among them (by its path
under configs/, or by name: demo-ci, study/ci), so both commands also run from an installed wheel in an empty
folder. Steps run in the working directory, and a relative output_dir is created there.

Examples:
  dynaflip-demo                                                 # configs/demo.yaml, about 20 min on 2 CPUs
  dynaflip-demo train.steps=600 data.episodes_per_task=12       # a longer run
  dynaflip-demo --config configs/demo-ci.yaml output_dir=/tmp/demo-small
  dynaflip-demo --config configs/paper.yaml                     # paper scale, one 8-GPU node
  dynaflip-study                                                # configs/study/cpu.yaml, about 3 h on 2 CPUs

Outputs in output_dir: data/ (shards, probe dataset), runs/ (checkpoints, exports, metrics), results/
(probe and policy results.json), report/ (report.md, report.json, figures), pipeline-config.yaml,
timing.json.
"""

from __future__ import annotations

import argparse
import os
import sys

from dynaflip.cli_utils import parse_with_overrides
from dynaflip.config import load_config
from dynaflip.errors import USER_ERRORS

from .config import PipelineConfig
from .recipes import find_recipe
from .run import run_pipeline

DEFAULT_CONFIG = "configs/demo.yaml"
STUDY_CONFIG = "configs/study/cpu.yaml"


def _main(argv: list[str] | None, *, prog: str, default_config: str, title: str) -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", action="append", default=[], help=f"pipeline YAML (default {default_config})")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parse_with_overrides(parser, argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        files = [find_recipe(path) for path in args.config or [default_config]]
        run_pipeline(load_config(PipelineConfig, files=files, overrides=args.overrides), title=title)
    except USER_ERRORS as error:  # a bad config, a failed step (its own output says why); others keep a traceback
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    return _main(argv, prog="dynaflip-demo", default_config=DEFAULT_CONFIG, title="DynaFLIP demo")


def study_main(argv: list[str] | None = None) -> int:
    return _main(argv, prog="dynaflip-study", default_config=STUDY_CONFIG, title="DynaFLIP study")


if __name__ == "__main__":
    raise SystemExit(main())
