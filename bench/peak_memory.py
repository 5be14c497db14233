"""Wall time and peak memory of a whole command, summed over its process tree (the demo spawns a CLI per step
and those spawn workers, so the peak of any single process undercounts what the machine must hold).

    .venv/bin/python bench/peak_memory.py -- bash scripts/demo.sh          # the README's main job
    .venv/bin/python bench/peak_memory.py --interval 0.2 -- dynaflip-train --config configs/train/tiny-cpu.yaml

Samples the resident set of the command and all its descendants every --interval seconds; prints the wall time,
the peak sum and the peak of the largest single process. A sampled peak can miss a spike shorter than the interval.
"""

from __future__ import annotations

import argparse
import subprocess
import time

import psutil


def tree_rss(root: psutil.Process) -> tuple[int, int]:
    """(sum, max) resident bytes over ``root`` and its descendants; processes that exit meanwhile count 0."""
    total = largest = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            rss = process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += rss
        largest = max(largest, rss)
    return total, largest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples (default 0.5)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")
    start = time.perf_counter()
    child = subprocess.Popen(command)
    root = psutil.Process(child.pid)
    peak_sum = peak_one = 0
    while child.poll() is None:
        try:
            total, largest = tree_rss(root)
        except psutil.NoSuchProcess:
            break
        peak_sum, peak_one = max(peak_sum, total), max(peak_one, largest)
        time.sleep(args.interval)
    code = child.wait()
    minutes = (time.perf_counter() - start) / 60
    gib = 1024**3
    print(
        f"peak_memory: exit {code}, wall {minutes:.1f} min, peak memory {peak_sum / gib:.2f} GiB summed over the "
        f"process tree (largest single process {peak_one / gib:.2f} GiB), sampled every {args.interval} s"
    )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
