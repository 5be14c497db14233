"""Publish a pipeline run's encoders as registry entries whose weights ship with the package.

For each ``publish`` item of the run's config, the run's final checkpoint is exported again with its name,
tag and a model card (training data, steps, compute, the run's evaluation numbers and what the encoder is
not) into ``OUT/publish/weights/<name>-<tag>/``, and ``OUT/publish/registry.yaml`` lists them with a
``path`` source and the weights' sha256, so ``dynaflip.load("<name>@<tag>", registry=...)`` reads them
offline. ``--install`` copies them into ``dynaflip/pretrained/weights/`` and writes their entries into the
packaged registry between marker comments (replacing an earlier install of the same name@tag); it works in a
source checkout (an editable install), where the shipped weights are then committed, and refuses an installed
package.

    python -m dynaflip.pipeline.publish outputs/study-cpu                # writes outputs/study-cpu/publish/
    python -m dynaflip.pipeline.publish outputs/study-cpu --install      # and ships them in the package
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from dynaflip.config import ConfigError, from_dict
from dynaflip.errors import USER_ERRORS, DynaflipError
from dynaflip.hub.export import export_checkpoint
from dynaflip.hub.registry import default_registry_path, load_registry
from dynaflip.io import atomic_write_text

from .config import PipelineConfig, PublishItem
from .evidence import evidence_markdown

PUBLISH_DIR = "publish"
WEIGHTS_DIR = "weights"
REGISTRY_FILE = "registry.yaml"
CONFIG_FILE = "pipeline-config.yaml"


def _marker(full_name: str, end: bool = False) -> str:
    return f"  # --- {'end ' if end else ''}shipped encoder {full_name} (dynaflip.pipeline.publish) ---"


def registry_entry(item: PublishItem, export: Path, *, source_path: str) -> dict[str, Any]:
    """The registry entry of an exported encoder folder (architecture and preprocessing from its config)."""
    config = json.loads((export / "config.json").read_text())
    image, preprocess = config["image_encoder"], config["preprocess"]
    architecture = {"name": image["name"], "img_size": image["img_size"]}
    if image.get("model_kwargs"):
        architecture["model_kwargs"] = dict(image["model_kwargs"])
    return {
        "name": item.name,
        "tag": item.tag,
        "status": "available",
        "architecture": architecture,
        "input_size": preprocess["size"],
        "mean": list(preprocess["mean"]),
        "std": list(preprocess["std"]),
        "sources": {"path": source_path},
        "sha256": config["weights_sha256"],
        "license": "apache-2.0",
        "recipe": config.get("training", {}).get("recipe", "custom"),
        "data": item.data,
        "notes": item.notes,
    }


def publish(out_dir: Path) -> list[dict[str, Any]]:
    """Export every ``publish`` item of the run in ``out_dir``; returns the registry entries written."""
    config_path = out_dir / CONFIG_FILE
    if not config_path.is_file():
        raise ConfigError(f"{config_path}: not found (is {out_dir} the output folder of a dynaflip-demo/study run?)")
    config = from_dict(PipelineConfig, yaml.safe_load(config_path.read_text()))
    target = out_dir / PUBLISH_DIR
    evidence = evidence_markdown(out_dir)
    entries = []
    for item in config.publish:
        run = out_dir / "runs" / item.run
        folder = target / WEIGHTS_DIR / f"{item.name}-{item.tag}"
        extra = {"name": f"{item.name}@{item.tag}", "load_name": f"{item.name}@{item.tag}", "evaluation": evidence,
                 "description": item.notes}  # fmt: skip
        export_checkpoint(run, folder, extra=extra)
        (folder / "config.json").write_text(_without_local_paths((folder / "config.json").read_text(), out_dir))
        card = folder / "README.md"
        card.write_text(_relative_to_run(card.read_text(), out_dir))
        entries.append(registry_entry(item, folder, source_path=f"{WEIGHTS_DIR}/{folder.name}"))
    registry = {"format_version": 1, "encoders": entries}
    atomic_write_text(target / REGISTRY_FILE, yaml.safe_dump(registry, sort_keys=False, width=110))
    load_registry(target / REGISTRY_FILE)  # what was written is a valid registry
    return entries


def _without_local_paths(config_text: str, out_dir: Path) -> str:
    """Drop the checkpoint's absolute path (a detail of the machine that trained it) from config.json, and name
    the training shards relative to the run's folder."""
    config = json.loads(config_text)
    config.get("training", {}).pop("checkpoint", None)
    return _relative_to_run(json.dumps(config, indent=2) + "\n", out_dir)


def _relative_to_run(text: str, out_dir: Path) -> str:
    """``/abs/path/outputs/study-cpu/data/x`` -> ``study-cpu/data/x``: the run's name, not this machine's paths."""
    return text.replace(f"{out_dir.resolve()}/", f"{out_dir.resolve().name}/")


class NotACheckout(DynaflipError, RuntimeError):
    """``--install`` was asked of an installed package rather than a source checkout."""


def checkout_registry() -> Path:
    """The packaged registry file, when the package is a source checkout (``setup.py`` beside ``dynaflip/``)."""
    path = default_registry_path()
    root = path.parent.parent.parent
    if not (root / "setup.py").is_file() or not (root / "pyproject.toml").is_file():
        raise NotACheckout(
            f"publish --install: {path} belongs to an installed package, not a source checkout; run it from a "
            "clone installed with 'pip install -e .' (the shipped weights are committed there)"
        )
    return path


def install(out_dir: Path, *, registry_path: Path | None = None) -> list[str]:
    """Copy the published folders into the package and write their entries into the packaged registry (default:
    the checkout's own, see :func:`checkout_registry`)."""
    registry_path = registry_path or checkout_registry()
    published = yaml.safe_load((out_dir / PUBLISH_DIR / REGISTRY_FILE).read_text())["encoders"]
    text = registry_path.read_text()
    names = []
    for entry in published:
        full_name = f"{entry['name']}@{entry['tag']}"
        source = out_dir / PUBLISH_DIR / entry["sources"]["path"]
        destination = registry_path.parent / entry["sources"]["path"]
        # Copied beside, then swapped in: an interrupted install never leaves a listed encoder half-copied.
        staging = destination.with_name(destination.name + ".installing")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        if destination.exists():
            shutil.rmtree(destination)
        staging.rename(destination)
        block = yaml.safe_dump([entry], sort_keys=False, width=110)
        block = "\n".join("  " + line if line else line for line in block.splitlines())
        start, end = re.escape(_marker(full_name)), re.escape(_marker(full_name, end=True))
        pattern = re.compile(f"\n{start}\n.*?\n{end}\n", re.DOTALL)
        wrapped = f"\n{_marker(full_name)}\n{block}\n{_marker(full_name, end=True)}\n"
        match = pattern.search(text)
        text = text[: match.start()] + wrapped + text[match.end() :] if match else text.rstrip("\n") + "\n" + wrapped
        names.append(full_name)
    atomic_write_text(registry_path, text)
    load_registry(registry_path)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dynaflip.pipeline.publish", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("run", help="output folder of a dynaflip-demo / dynaflip-study run")
    parser.add_argument("--install", action="store_true", help="ship the encoders in the package's registry")
    args = parser.parse_args(argv)
    try:
        entries = publish(Path(args.run))
        for entry in entries:
            print(f"published {entry['name']}@{entry['tag']} (sha256 {entry['sha256'][:12]}...)")
        if args.install:
            print("installed in the package registry: " + ", ".join(install(Path(args.run))))
    except USER_ERRORS as error:
        print(f"publish: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
