"""Render throughput of MetaWorldSim: ``python -m dynaflip.sim.benchmark [--size 224] [--frames 100]``.

Prints frames per second for RGB + depth with no shift and with each OOD shift, rendering the scripted
expert's episode (physics excluded from the timing).
"""

from __future__ import annotations

import argparse
import time

from .backend import import_torch_first


def measure(
    task: str, *, size: int, frames: int, shift: str | None, camera: str, with_segmentation: bool = False
) -> float:
    """Frames per second of ``render()`` over ``frames`` consecutive expert steps."""
    from .env import MetaWorldSim

    with MetaWorldSim(task, seed=0, camera=camera, image_size=(size, size), shift=shift) as sim:
        sim.render()  # warm-up: creates the GL context
        elapsed = 0.0
        for _ in range(frames):
            started = time.perf_counter()
            sim.render(with_segmentation=with_segmentation)
            elapsed += time.perf_counter() - started
            if sim.step_count + 1 >= sim.max_steps:
                sim.reset()
            sim.step(sim.expert_action())
    return frames / elapsed


def main(argv: list[str] | None = None) -> None:
    from .shifts import SHIFTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="pick-place-v3")
    parser.add_argument("--camera", default="corner")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args(argv)
    import_torch_first()
    for shift in [None, *SHIFTS]:
        fps = measure(args.task, size=args.size, frames=args.frames, shift=shift, camera=args.camera)
        print(f"{args.task} {args.camera} {args.size}x{args.size} rgb+depth shift={shift}: {fps:.1f} fps")
    fps = measure(args.task, size=args.size, frames=args.frames, shift=None, camera=args.camera, with_segmentation=True)
    print(f"{args.task} {args.camera} {args.size}x{args.size} rgb+depth+segmentation shift=None: {fps:.1f} fps")


if __name__ == "__main__":
    main()
