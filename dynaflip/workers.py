"""How the project starts worker processes that may render with MuJoCo.

Workers start by 'forkserver' with torch, torchvision, mujoco and metaworld (and the caller's own modules)
preloaded once, before any GL context exists, or by 'spawn' where forkserver is missing. Never by plain
'fork': a MuJoCo GL context does not survive it, and torch must be imported before one exists (see
:mod:`dynaflip.sim.backend`).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context

HEAVY_IMPORTS = ("torch", "torchvision", "mujoco", "metaworld")


def worker_context(*preload: str) -> multiprocessing.context.BaseContext:
    """The start context for rendering workers; ``preload`` names the caller's modules (e.g. ``__name__``)
    that the forkserver imports once after the heavy ones."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*HEAVY_IMPORTS, *preload])
    return context
