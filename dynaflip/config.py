"""Configs as data: dataclasses filled from layered YAML files and ``key=value`` overrides.

Layering: each file is deep-merged over the previous one (a file may name a parent with
``_base_: other.yaml``, resolved relative to itself), then command-line overrides ``a.b.c=value`` are
applied (values parsed as YAML). Building the dataclass is strict: an unknown key or a value of the wrong
type is a :class:`ConfigError` naming the key, what was expected and what it got.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from dynaflip.errors import DynaflipError

T = TypeVar("T")
BASE_KEY = "_base_"


class ConfigError(DynaflipError, ValueError):
    """A config file, key or value is wrong; the message names it."""


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read one YAML mapping, following its ``_base_`` chain."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    base = data.pop(BASE_KEY, None)
    if base is None:
        return data
    bases = [base] if isinstance(base, str) else base
    merged: dict[str, Any] = {}
    for name in bases:
        merged = deep_merge(merged, read_yaml(path.parent / name))
    return deep_merge(merged, data)


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``update`` wins, mappings merge, everything else is replaced."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings (value parsed as YAML: ``lr=1e-4``, ``tags=[a,b]``, ``x=null``)."""
    out = dict(data)
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r}: expected key=value (e.g. optim.lr=1e-4)")
        dotted, raw = override.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        parts = dotted.strip().split(".")
        out = deep_merge(out, _nest(parts, value))
    return out


def _nest(parts: list[str], value: Any) -> dict[str, Any]:
    return {parts[0]: _nest(parts[1:], value) if len(parts) > 1 else value}


def load_config(cls: type[T], *, files: Sequence[str | Path] = (), overrides: Sequence[str] = ()) -> T:
    """Build ``cls`` (a dataclass) from layered YAML ``files`` and ``overrides``."""
    data: dict[str, Any] = {}
    for path in files:
        data = deep_merge(data, read_yaml(path))
    data = apply_overrides(data, overrides)
    return from_dict(cls, data)


def from_dict(cls: type[T], data: Mapping[str, Any], *, prefix: str = "") -> T:
    """Strictly convert a nested mapping into the dataclass ``cls``."""
    if not isinstance(data, Mapping):
        where = prefix.rstrip(".") or "<root>"
        raise ConfigError(f"'{where}': expected a mapping for {cls.__name__}, got {_show(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else f" (known keys: {', '.join(fields)})"
            raise ConfigError(f"unknown config key '{dotted}'{hint}")
        kwargs[key] = _convert(hints[key], value, dotted)
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing config key '{prefix}{missing[0]}' for {cls.__name__}")
    return cls(**kwargs)


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value if value is not None else {}, prefix=f"{key}.")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, key)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(f"'{key}': expected {_name(hint)}, got {_show(value)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"'{key}': expected one of {list(args)}, got {_show(value)}")
        return value
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"'{key}': expected a list ({_name(hint)}), got {_show(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"'{key}': expected {len(args)} items ({_name(hint)}), got {_show(value)}")
            return tuple(_convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
        item = args[0] if args else Any
        items = [_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"'{key}': expected a mapping ({_name(hint)}), got {_show(value)}")
        value_hint = args[1] if len(args) == 2 else Any
        return {k: _convert(value_hint, v, f"{key}.{k}") for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{key}': expected true/false, got {_show(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"'{key}': expected an integer, got {_show(value)}")
        return value
    if hint is float:
        if isinstance(value, str):
            value = _float_or_none(value) if _float_or_none(value) is not None else value  # YAML reads 1e-4 as a string
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"'{key}': expected a number, got {_show(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{key}': expected a string, got {_show(value)}")
        return value
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"'{key}': expected {_name(hint)}, got {_show(value)}")
    return value


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:100]


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as plain data (lists instead of tuples), ready for YAML/JSON."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(config)


def dump_yaml(config: Any, path: str | Path) -> None:
    """Write a config (dataclass or mapping) as YAML, atomically."""
    from dynaflip.io import atomic_write_text

    data = to_dict(config) if dataclasses.is_dataclass(config) else dict(config)
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
