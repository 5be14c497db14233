"""The registry of published encoders: ``dynaflip/pretrained/registry.yaml`` read into checked entries.

Names: ``NAME`` (the first entry of that name in the file) or ``NAME@TAG``. The file's header documents
the fields; :func:`load_registry` rejects a malformed file with the file, entry and field in the message.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from dynaflip.config import ConfigError, from_dict

from .checksum import is_sha256
from .errors import RegistryError, UnknownModelError

Status = Literal["available", "not yet trained", "not yet published"]
STATUSES: tuple[str, ...] = typing.get_args(Status)
TAG_SEPARATOR = "@"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
WEIGHT_SOURCES = ("path", "hf_hub_id", "url")  # tried in this order
FORMAT_VERSION = 1  # the registry file format this version reads (the file's top-level ``format_version``)


@dataclass
class ArchitectureFields:
    """``architecture``: the ImageEncoderConfig fields a registry entry may set."""

    name: str
    img_size: int
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError(f"'architecture.name': expected a timm model name, got {self.name!r}")
        if self.img_size <= 0:
            raise ConfigError(f"'architecture.img_size': expected a positive integer, got {self.img_size!r}")


@dataclass
class SourceFields:
    """``sources``: where the weights are published (tried in the order of :data:`WEIGHT_SOURCES`)."""

    path: str | None = None
    hf_hub_id: str | None = None
    revision: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        for key, value in dataclasses.asdict(self).items():
            if value == "":
                raise ConfigError(f"'sources.{key}': expected a non-empty string or no key, got ''")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"'sources.url': expected an http(s) url, got {self.url!r}")


@dataclass(frozen=True)
class RegistryEntry:
    """One published (or planned) encoder: an entry of the registry file as :func:`dynaflip.config.from_dict`
    reads it (types, unknown and missing keys), with the checks below (the file's header documents each field)."""

    name: str
    tag: str
    status: Status
    architecture: dict[str, Any]  # ImageEncoderConfig fields, checked as ArchitectureFields
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    license: str
    recipe: str
    data: str
    sources: dict[str, Any] | None = field(default_factory=dict)  # checked as SourceFields; null is none
    sha256: str | None = None
    notes: str | None = ""
    # Not a field of the file: its folder, against which a ``path`` source resolves (weights shipped in the package).
    base_dir: Path | None = None

    def __post_init__(self) -> None:
        architecture = from_dict(ArchitectureFields, self.architecture, prefix="architecture.")
        sources = from_dict(SourceFields, self.sources or {}, prefix="sources.")
        object.__setattr__(self, "architecture", dataclasses.asdict(architecture))
        object.__setattr__(self, "sources", {k: v for k, v in dataclasses.asdict(sources).items() if v is not None})
        object.__setattr__(self, "data", self.data.strip())
        object.__setattr__(self, "notes", (self.notes or "").strip())
        for key in ("name", "tag"):
            if not _NAME.match(getattr(self, key)):
                raise ConfigError(
                    f"'{key}': expected lower-case letters, digits, '-', '_' or '.', got {getattr(self, key)!r}"
                )
        if self.input_size != architecture.img_size:
            raise ConfigError(
                f"'input_size': expected architecture.img_size ({architecture.img_size}), got {self.input_size}"
            )
        if min(self.std) <= 0:
            raise ConfigError(f"'std': expected 3 positive numbers, got {list(self.std)}")
        for key in ("license", "recipe", "data"):
            if not getattr(self, key).strip():
                raise ConfigError(f"'{key}': expected a non-empty string, got {getattr(self, key)!r}")
        if self.sha256 is not None and not is_sha256(self.sha256):
            raise ConfigError(f"'sha256': expected 64 lower-case hexadecimal characters or null, got {self.sha256!r}")
        if self.status == "available":
            if self.sha256 is None:
                raise ConfigError("'sha256': expected the weights' checksum (status is 'available'), got null")
            if not set(WEIGHT_SOURCES) & set(self.sources):
                raise ConfigError("'sources': expected a path, hf_hub_id or url (status is 'available')")

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
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise RegistryError(
            f"{path}: field 'format_version': this dynaflip reads registry format_version {FORMAT_VERSION}, the file "
            f"has {version!r} (written by a newer dynaflip? upgrade it: pip install -U dynaflip)"
        )
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
    """One entry of the file, validated; any problem is a one-line RegistryError naming the file, entry and field."""
    if isinstance(raw, Mapping):
        where = f"{where} ('{raw.get('name', '?')}')"
        if "base_dir" in raw:
            raise RegistryError(f"{where}: unknown field 'base_dir' (a path source is relative to the registry file)")
    try:
        return dataclasses.replace(from_dict(RegistryEntry, raw), base_dir=base_dir)
    except ConfigError as error:
        raise RegistryError(f"{where}: {error}") from None


def list_pretrained(*, registry: str | Path | None = None) -> dict[str, str]:
    """``{"NAME@TAG": status}`` for every registry entry, in file order (status: see :data:`STATUSES`)."""
    return {entry.full_name: entry.status for entry in load_registry(registry)}
