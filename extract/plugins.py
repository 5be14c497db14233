"""Building a backend (tracker, depth) by its registered name from the keyword options of a config."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any


def by_name(*classes: type) -> dict[str, type]:
    """``{cls.name: cls}`` for backend classes, in the order given."""
    return {cls.name: cls for cls in classes}


def create_plugin(
    registry: Mapping[str, type], name: str, options: Mapping[str, Any], *, kind: str, plural: str
) -> Any:
    """``registry[name](**options)``; an unknown name, an unknown option or a missing one is a ValueError naming
    the ``kind`` (e.g. "tracker") and what it accepts."""
    if name not in registry:
        raise ValueError(f"{kind}: unknown name {name!r}; known {plural}: {', '.join(sorted(registry))}")
    parameters = inspect.signature(registry[name]).parameters
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        accepted = ", ".join(parameters) or "none"
        raise ValueError(f"{kind} {name!r}: unknown option(s) {', '.join(unknown)}; accepted: {accepted}")
    required = [key for key, p in parameters.items() if p.default is inspect.Parameter.empty and key not in options]
    if required:
        raise ValueError(f"{kind} {name!r}: missing option(s) {', '.join(required)}")
    return registry[name](**options)
