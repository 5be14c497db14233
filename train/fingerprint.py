"""What a run is, for a safe resume: the config keys that change the model, objective, data and schedule,
and the extraction manifests of its shards. Every checkpoint stores it; a resume compares the live run's
with the checkpoint's and refuses a difference, naming each changed key (``optim.lr: 0.001 -> 0.5``),
unless the user accepts those keys explicitly (``dynaflip-train --resume-allow optim.lr``).

Keys that only say where and how often to write (logging, checkpoint cadence, the output folder, the
stopping point of a time slice) never count."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dynaflip.config import to_dict
from dynaflip.errors import DynaflipError

from .config import DataConfig, TrainConfig
from .data import resolve_shard_set, shard_set_manifest

#: Keys (and key prefixes) that never make a run another run.
IGNORED_KEYS = (
    "recipe",  # a label; what it stands for is compared key by key
    "runtime.output_dir",
    "runtime.log_every",
    "runtime.tensorboard",
    "runtime.checkpoint_every",
    "runtime.keep_checkpoints",
    "runtime.stop_after",
    "runtime.export_at_end",
    "runtime.timeout_minutes",
    "health",  # measurements of the features on held-out frames; they never feed the training
)
FINGERPRINT_VERSION = 1


class ResumeMismatch(DynaflipError, ValueError):
    """The checkpoint was written by a run with another config or other shards."""


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 1}}`` -> ``{"optim.lr": 1}``; lists of mappings get ``[i]`` (``data.shards[0].path``),
    lists of plain values stay whole (``optim.betas``)."""
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(data, list | tuple) and any(isinstance(item, Mapping) for item in data):
        out = {}
        for index, item in enumerate(data):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: list(data) if isinstance(data, tuple) else data}


def _matches(key: str, patterns: Iterable[str]) -> bool:
    return any(key == p or key.startswith(f"{p}.") or key.startswith(f"{p}[") for p in patterns)


def shard_manifests(data: DataConfig) -> list[dict[str, Any]]:
    """Each shard set's sample count and the sha256 of its extraction manifest (of sizes.json without one)."""
    out = []
    for shard_set in data.shards:
        resolved = resolve_shard_set(shard_set)
        content = shard_set_manifest(shard_set.path)  # local folder or remote prefix alike
        digest = None if content is None else hashlib.sha256(content).hexdigest()
        out.append({"samples": resolved.samples, "manifest_sha256": digest})
    return out


def run_fingerprint(config: TrainConfig, *, manifests: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The flat keys that define the run (config and shard manifests) and one sha256 over them."""
    keys = {key: value for key, value in flatten(to_dict(config)).items() if not _matches(key, IGNORED_KEYS)}
    keys.update(flatten({"shards": [dict(m) for m in manifests]}))
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()
    return {"version": FINGERPRINT_VERSION, "sha256": digest, "keys": keys}


def _show(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:12]  # a sha256
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def changed_keys(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``key: old -> new`` for every key whose value differs (``(unset)`` for a key only one side has)."""
    missing = object()
    out = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key, missing), current.get(key, missing)
        if old != new:
            old_text = "(unset)" if old is missing else _show(old)
            new_text = "(unset)" if new is missing else _show(new)
            out.append(f"{key}: {old_text} -> {new_text}")
    return out


def check_resume(
    saved: Mapping[str, Any] | None, current: Mapping[str, Any], *, checkpoint: Path, allow: Sequence[str] = ()
) -> list[str]:
    """Raise ResumeMismatch when the checkpoint's fingerprint differs in a key ``allow`` does not name;
    return the accepted changes (for the log). A checkpoint without a fingerprint (older runs) passes."""
    if not saved:
        return []
    old_keys = dict(saved.get("keys", {}))
    # A key added to the config after the checkpoint was written, at its default, changes nothing.
    defaults = flatten(to_dict(TrainConfig()))
    for key, value in current["keys"].items():
        if key not in old_keys and key in defaults and defaults[key] == value:
            old_keys[key] = value
    changes = changed_keys(old_keys, current["keys"])
    refused = [change for change in changes if not _matches(change.split(":", 1)[0], allow)]
    if refused:
        names = ",".join(sorted({change.split(":", 1)[0] for change in refused}))
        raise ResumeMismatch(
            f"{checkpoint}: written by another run; changed: {'; '.join(refused)}. Train into a new "
            f"runtime.output_dir, or accept the change with --resume-allow {names}"
        )
    return changes
