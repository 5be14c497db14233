"""Every CLI's ``--help`` (and each subcommand's) works and shows examples, and every repository file that the
help texts and README.md name exists, so a newcomer's first copy-paste does not fail on a missing config."""

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLIS = {
    "dynaflip-extract": ("dynaflip.extract.cli", ["folder", "ssv2", "narrations", "metaworld", "visualize"]),
    "dynaflip-train": ("dynaflip.train.cli", []),
    "dynaflip-probe": ("dynaflip.eval.probe_cli", ["build-data", "run"]),
    "dynaflip-policy": ("dynaflip.eval.policy_cli", ["run", "calibrate"]),
    "dynaflip-report": ("dynaflip.eval.report_cli", []),
    "dynaflip-export": ("dynaflip.hub.export_cli", []),
    "dynaflip-demo": ("dynaflip.pipeline.demo", []),
    "dynaflip-study": ("dynaflip.pipeline.demo:study_main", []),
}
REPO_PATH = re.compile(r"(?<![\w/.])((?:configs|slurm|scripts|bench)/[\w./-]+\.(?:yaml|json|sbatch|sh|py))")


def _help(module: str, argv: list[str], capsys) -> str:
    module, _, function = module.partition(":")
    main = getattr(importlib.import_module(module), function or "main")
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(CLIS))
def test_help_has_examples_and_its_files_exist(name, capsys):
    module, subcommands = CLIS[name]
    text = _help(module, [], capsys)
    assert "Examples:" in text and name in text.split("Examples:")[1]
    for subcommand in subcommands:
        assert subcommand in text
        assert "usage:" in _help(module, [subcommand], capsys)
    for path in REPO_PATH.findall(text):
        assert (REPO / path).exists(), f"{name} --help names {path}, which does not exist"


def test_every_repository_file_the_readme_names_exists():
    named = set(REPO_PATH.findall((REPO / "README.md").read_text()))
    assert "configs/demo.yaml" in named or "scripts/demo.sh" in named
    missing = sorted(path for path in named if not (REPO / path).exists())
    assert not missing, f"README.md names files that do not exist: {missing}"
