"""DynaFLIP: dynamics-aware visual encoder pre-training for robot manipulation.

The light library: encoders, the objective, the triplet schema, geometry and the pretrained hub. The
pipeline stages install as subpackages (`dynaflip.extract`, `dynaflip.train`, `dynaflip.eval`) and are
imported only by their command-line tools.

``dynaflip.load(name_or_path_or_url)`` returns ``(encoder, preprocess)``; ``dynaflip.list_pretrained()``
lists the registry. Both are imported on first use, so ``import dynaflip`` stays light (no torch).
"""

from typing import Any

__version__ = "0.1.0"

_LAZY = {"load": "dynaflip.hub.loader", "list_pretrained": "dynaflip.hub.registry"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dynaflip' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
