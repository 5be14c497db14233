"""CPU time of a subprocess's whole tree, including workers that ``RUSAGE_CHILDREN`` never sees.

``getrusage(RUSAGE_CHILDREN)`` counts only descendants that were waited for up the chain. Workers started by
a forkserver (MuJoCo rendering) are children of the forkserver, which is never waited for, so their CPU time
vanished (an extraction step read 15 CPU-seconds for 70 s on 2 busy cores). This meter polls /proc for every
descendant of the step's process and keeps each one's last user + system time; the step's CPU time is the
larger of that sum and the rusage delta (polling misses the last < ``interval`` s of short-lived workers,
rusage misses orphans). Off Linux (no /proc) it is rusage only.
"""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path

PROC = Path("/proc")


def children_rusage_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _read_stats() -> dict[int, tuple[int, int, float]]:
    """pid -> (parent pid, start time in ticks, own user + system seconds), for every process readable now."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone between the listing and the read
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state is field 0
        stats[int(entry.name)] = (int(fields[1]), int(fields[19]), (int(fields[11]) + int(fields[12])) / ticks)
    return stats


class ProcessTreeCpu:
    """Polls the CPU time of ``pid``'s descendants (``pid`` included) in a thread until :meth:`stop`."""

    def __init__(self, pid: int, *, interval: float = 0.5) -> None:
        self.pid, self.interval = pid, interval
        self._seen: dict[tuple[int, int], float] = {}  # (pid, start time): pids are reused
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True) if PROC.is_dir() else None
        if self._thread is not None:
            self._thread.start()

    def _sample(self) -> None:
        stats = _read_stats()
        children: dict[int, list[int]] = {}
        for pid, (parent, _, _) in stats.items():
            children.setdefault(parent, []).append(pid)
        stack = [self.pid] if self.pid in stats else []
        while stack:
            pid = stack.pop()
            parent, started, seconds = stats[pid]
            self._seen[(pid, started)] = seconds
            stack.extend(children.get(pid, []))

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def stop(self) -> float:
        """Stop polling; the summed CPU seconds of every descendant seen."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return sum(self._seen.values())
