"""The model card (README.md) of an exported encoder: architecture, recipe, data, evaluation, licence."""

from __future__ import annotations

import json
from typing import Any

DEFAULT_LICENSE = "apache-2.0"


def _table(rows: list[tuple[str, Any]]) -> str:
    lines = ["| | |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows if value not in (None, "", [])]
    return "\n".join(lines)


def model_card(config: dict[str, Any]) -> str:
    image = config.get("image_encoder", {})
    preprocess = config.get("preprocess", {})
    training = config.get("training", {})
    name = config.get("name", f"dynaflip-{image.get('name', 'encoder')}")
    license_name = config.get("license", DEFAULT_LICENSE)
    parts = [
        "---",
        f"license: {license_name}",
        "library_name: dynaflip",
        "tags: [robotics, representation-learning, dynaflip, image-feature-extraction]",
        "---",
        f"# {name}",
        "",
        # A publisher's description replaces the generic line: a baseline trained on images alone is not one.
        config.get("description")
        or "A DynaFLIP image encoder: pre-trained on image transitions, language and 3D flow so that its features "
        "carry how the scene changes under action (arXiv 2605.30350; reference implementation).",
        "",
        "## Use",
        "",
        "```python",
        "import dynaflip",  # laid out as `ruff format` leaves it: cards in the repository pass its check
        "",
        f'encoder, preprocess = dynaflip.load("{config.get("load_name", "path/to/this/folder")}")',
        f"# (B, {config.get('output_dim', 0)}) = {config.get('feature', '')}",
        "features = encoder(preprocess(image))",
        "```",
        "",
        "## Architecture and preprocessing",
        "",
        _table(
            [
                ("backbone (timm)", image.get("name")),
                ("model kwargs", image.get("model_kwargs") or None),
                ("input size", preprocess.get("size")),
                ("mean", preprocess.get("mean")),
                ("std", preprocess.get("std")),
                ("output", f"{config.get('output_dim')}-d: {config.get('feature')}"),
            ]
        ),
    ]
    if training:
        objective = training.get("objective") or {}
        optim = training.get("optim") or {}
        parts += [
            "",
            "## Training",
            "",
            _table(
                [
                    ("recipe", training.get("recipe")),
                    ("steps", training.get("steps")),
                    ("samples seen", training.get("samples_seen")),
                    ("modalities", objective.get("modalities")),
                    ("alignment", objective.get("alignment")),
                    ("lr / weight decay", f"{optim.get('lr')} / {optim.get('weight_decay')}" if optim else None),
                ]
            ),
        ]
        data = training.get("data") or []
        if data:
            parts += ["", "### Data", "", "| shard set | samples | manifest sha256 |", "| --- | --- | --- |"]
            parts += [f"| {d.get('path')} | {d.get('samples')} | `{d.get('manifest_sha256')}` |" for d in data]
    evaluation = config.get("evaluation")
    if evaluation:
        if not isinstance(evaluation, str):  # results from a JSON file: shown as JSON, not as a Python repr
            evaluation = f"```json\n{json.dumps(evaluation, indent=2)}\n```"
        parts += ["", "## Evaluation", "", evaluation]
    parts += [
        "",
        "## Licence",
        "",
        f"{license_name}. Check the licences of the training data before redistribution.",
        "",
    ]
    return "\n".join(parts)
