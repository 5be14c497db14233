"""Importing the simulator stack safely: GL backend defaults and the torch-before-MuJoCo import order.

Importing torchvision (which loads triton's LLVM) after a MuJoCo GL context exists kills the process with
SIGSEGV (LLVM clash with Mesa), so every entry point that renders imports torch first.
"""

from __future__ import annotations

import os
from types import ModuleType


def import_torch_first() -> None:
    """Import torch and torchvision now, before any GL context exists (no-op when they are absent)."""
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError:
        pass


def set_gl_defaults() -> None:
    """Headless rendering defaults: MUJOCO_GL=egl and a matching PYOPENGL_PLATFORM (user settings win)."""
    backend = os.environ.setdefault("MUJOCO_GL", "egl")
    if backend in ("egl", "osmesa"):
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)


def import_mujoco() -> ModuleType:
    """The ``mujoco`` module, imported after the GL defaults and torch."""
    set_gl_defaults()
    import_torch_first()
    try:
        import mujoco
    except ImportError as error:
        raise ImportError("dynaflip.sim needs mujoco: pip install 'dynaflip[sim]'") from error
    return mujoco


def import_metaworld() -> ModuleType:
    """The ``metaworld`` module (Meta-World v3), imported after the GL defaults and torch."""
    import_mujoco()
    try:
        import metaworld
    except ImportError as error:
        raise ImportError("dynaflip.sim needs metaworld (and packaging): pip install 'dynaflip[sim]'") from error
    return metaworld
