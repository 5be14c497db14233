"""The registry of published encoders: ``dynaflip/pretrained/registry.yaml`` read into checked entries.

Names: ``NAME`` (the first entry of that name in the file) or ``NAME@TAG``. The file's header documents
the fields; :func:`load_registry` rejects a malformed file with the file, entry and field in the message.
"""

from __future__ import annotations

import difflib
import importlib.resources
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .checksum import is_sha256
from .errors import RegistryError, UnknownModelError

STATUSES = ("available", "not yet trained", "not yet published")
TAG_SEPARATOR = "@"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_REQUIRED = ("name", "tag", "status", "architecture", "input_size", "mean", "std", "license", "recipe", "data")
_OPTIONAL = ("sources", "sha256", "notes")
_SOURCE_KEYS = ("path", "hf_hub_id", "revision", "url")
WEIGHT_SOURCES = ("path", "hf_hub_id", "url")  # tried in this order
_ARCH_KEYS = ("name", "img_size", "model_kwargs")


@dataclass(frozen=True)
class RegistryEntry:
    """One published (or planned) encoder."""

    name: str
    tag: str
    status: str
    architecture: dict[str, Any]
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    license: str
    recipe: str
    data: str
    sources: dict[str, str] = field(default_factory=dict)
    sha256: str | None = None
    notes: str = ""
    # The registry file's folder: a ``path`` source is relative to it (weights shipped inside the package).
    base_dir: Path | None = None

    @property
    def local_folder(self) -> Path | None:
        """The export folder of a ``path`` source, resolved against the registry file's folder."""
        if "path" not in self.sources:
            return None
        folder = Path(self.sources["path"])
        return folder if folder.is_absolute() or self.base_dir is None else self.base_dir / folder

    @property
    def full_name(self) -> str:
        return f"{self.name}{TAG_SEPARATOR}{self.tag}"

    @property
    def available(self) -> bool:
        return self.status == "available"


def default_registry_path() -> Path:
    return Path(str(importlib.resources.files("dynaflip") / "pretrained" / "registry.yaml"))


def load_registry(path: str | Path | None = None) -> list[RegistryEntry]:
    """All entries of the registry file ``path`` (default: the packaged one), validated, in file order."""
    path = Path(path) if path is not None else default_registry_path()
    if not path.is_file():
        raise RegistryError(f"{path}: registry file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise RegistryError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("encoders"), list):
        raise RegistryError(f"{path}: expected a mapping with a list 'encoders' at the top level")
    entries: list[RegistryEntry] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["encoders"]):
        entry = _entry(raw, where=f"{path}: entry {index}", base_dir=path.parent)
        if entry.full_name in seen:
            raise RegistryError(f"{path}: entry {index} ('{entry.full_name}'): duplicate name@tag")
        seen.add(entry.full_name)
        entries.append(entry)
    return entries


def find_entry(spec: str, entries: list[RegistryEntry]) -> RegistryEntry:
    """The entry named ``NAME`` or ``NAME@TAG``; an unknown one is an error listing the closest names."""
    name, _, tag = spec.partition(TAG_SEPARATOR)
    matches = [entry for entry in entries if entry.name == name]
    if not matches:
        known = list(dict.fromkeys(entry.name for entry in entries))
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(known) or 'none'}"
        raise UnknownModelError(
            f"'{spec}': not a registry name, local path, http(s) URL or hf-hub:org/repo id ({hint}; "
            "dynaflip.list_pretrained() lists the registry)"
        )
    if not tag:
        return matches[0]
    for entry in matches:
        if entry.tag == tag:
            return entry
    raise UnknownModelError(f"'{spec}': '{name}' has no tag '{tag}' (tags: {', '.join(e.tag for e in matches)})")


def _entry(raw: Any, *, where: str, base_dir: Path | None = None) -> RegistryEntry:
    if not isinstance(raw, Mapping):
        raise RegistryError(f"{where}: expected a mapping, got {type(raw).__name__}")
    where = f"{where} ('{raw.get('name', '?')}')"
    for key in raw:
        if key not in _REQUIRED + _OPTIONAL:
            close = difflib.get_close_matches(str(key), _REQUIRED + _OPTIONAL, n=1)
            raise RegistryError(f"{where}: unknown field '{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    for key in _REQUIRED:
        if key not in raw:
            raise RegistryError(f"{where}: field '{key}': missing")

    def fail(key: str, expected: str, *got: Any) -> RegistryError:
        value = got[0] if got else raw.get(key)
        return RegistryError(f"{where}: field '{key}': expected {expected}, got {value!r}")

    for key in ("name", "tag"):
        if not isinstance(raw[key], str) or not _NAME.match(raw[key]):
            raise fail(key, "lower-case letters, digits, '-', '_' or '.'")
    if raw["status"] not in STATUSES:
        raise fail("status", f"one of {', '.join(repr(s) for s in STATUSES)}")
    architecture = _architecture(raw["architecture"], fail, where)
    if not isinstance(raw["input_size"], int) or isinstance(raw["input_size"], bool) or raw["input_size"] <= 0:
        raise fail("input_size", "a positive integer")
    if architecture.get("img_size") != raw["input_size"]:
        raise fail("input_size", f"architecture.img_size ({architecture.get('img_size')})")
    mean, std = _triple(raw["mean"]), _triple(raw["std"])
    if mean is None:
        raise fail("mean", "3 numbers")
    if std is None or min(std) <= 0:
        raise fail("std", "3 positive numbers")
    for key in ("license", "recipe", "data"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise fail(key, "a non-empty string")
    sources = raw.get("sources") or {}
    if not isinstance(sources, Mapping) or any(k not in _SOURCE_KEYS for k in sources):
        raise fail("sources", f"a mapping with keys among {', '.join(_SOURCE_KEYS)}")
    if any(not isinstance(v, str) or not v for v in sources.values()):
        raise fail("sources", "non-empty strings")
    if "url" in sources and not sources["url"].startswith(("http://", "https://")):
        raise fail("sources", "an http(s) url")
    sha256 = raw.get("sha256")
    if sha256 is not None and not is_sha256(sha256):
        raise fail("sha256", "64 lower-case hexadecimal characters or null")
    if raw["status"] == "available":
        if sha256 is None:
            raise fail("sha256", "the weights' checksum (status is 'available')")
        if not (set(WEIGHT_SOURCES) & set(sources)):
            raise fail("sources", "a path, hf_hub_id or url (status is 'available')")
    notes = raw.get("notes") or ""
    if not isinstance(notes, str):
        raise fail("notes", "a string")
    return RegistryEntry(
        name=raw["name"],
        tag=raw["tag"],
        status=raw["status"],
        architecture=architecture,
        input_size=raw["input_size"],
        mean=mean,
        std=std,
        license=raw["license"],
        recipe=raw["recipe"],
        data=raw["data"].strip(),
        sources=dict(sources),
        sha256=sha256,
        notes=notes.strip(),
        base_dir=base_dir,
    )


def _architecture(value: Any, fail: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise fail("architecture", "a mapping of ImageEncoderConfig fields")
    for key in value:
        if key not in _ARCH_KEYS:
            raise RegistryError(f"{where}: unknown field 'architecture.{key}' (known: {', '.join(_ARCH_KEYS)})")
    if not isinstance(value.get("name"), str) or not value["name"]:
        raise fail("architecture.name", "a timm model name", value.get("name"))
    img_size = value.get("img_size")
    if not isinstance(img_size, int) or isinstance(img_size, bool) or img_size <= 0:
        raise fail("architecture.img_size", "a positive integer", img_size)
    model_kwargs = value.get("model_kwargs", {})
    if not isinstance(model_kwargs, Mapping):
        raise fail("architecture.model_kwargs", "a mapping", model_kwargs)
    return {"name": value["name"], "img_size": img_size, "model_kwargs": dict(model_kwargs)}


def _triple(value: Any) -> tuple[float, float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 3:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    return (float(value[0]), float(value[1]), float(value[2]))


def list_pretrained(*, registry: str | Path | None = None) -> dict[str, str]:
    """``{"NAME@TAG": status}`` for every registry entry, in file order (status: see :data:`STATUSES`)."""
    return {entry.full_name: entry.status for entry in load_registry(registry)}
