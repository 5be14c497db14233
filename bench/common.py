"""Shared measuring tools for the bench scripts: wall time and peak memory of a callable.

Machines here are noisy, so every script compares against a baseline measured in the same process and
prints ratios; absolute numbers are for orientation only.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil
import torch


def _release_freed_memory_to_the_os() -> None:
    """Make glibc serve large blocks with mmap and unmap them on free (a fixed mmap threshold), so the
    resident set follows live memory and its peak during a call measures that call alone."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_mmap_threshold = -3
        libc.mallopt(m_mmap_threshold, 128 * 1024)
    except OSError:
        pass


_release_freed_memory_to_the_os()


@dataclass
class Measurement:
    seconds: float  # median over repeats
    seconds_all: list[float]
    peak_bytes: int  # GPU: max allocated; CPU: peak resident-set growth during the call
    saved_bytes: int  # bytes of tensors autograd saved for backward (activation memory), 0 without autograd

    def row(self, name: str, baseline: Measurement | None = None) -> str:
        ratio = f"  x{self.seconds / baseline.seconds:5.2f} time" if baseline else ""
        memory_ratio = ""
        if baseline and baseline.peak_bytes:
            memory_ratio = f"  x{self.peak_bytes / baseline.peak_bytes:5.2f} peak memory"
        return (
            f"{name:<36} {self.seconds * 1000:9.1f} ms  peak {self.peak_bytes / 2**20:8.1f} MiB  "
            f"saved-for-backward {self.saved_bytes / 2**20:8.1f} MiB{ratio}{memory_ratio}"
        )


class _RssSampler(threading.Thread):
    def __init__(self, interval: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process()
        self.interval = interval
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        return self.peak - self.baseline


def measure(step: Callable[[], None], *, device: torch.device, repeats: int = 3, warmup: int = 1) -> Measurement:
    """Run ``step`` ``warmup`` times, then ``repeats`` timed times; memory from the first timed run."""
    for _ in range(warmup):
        step()
    _sync(device)
    saved = [0]

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved[0] += tensor.numel() * tensor.element_size()
        return tensor

    times = []
    peak = 0
    for index in range(repeats):
        if index == 0:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                start_bytes = torch.cuda.memory_allocated(device)
            else:
                sampler = _RssSampler()
                sampler.start()
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
                start = time.perf_counter()
                step()
                _sync(device)
                times.append(time.perf_counter() - start)
            if device.type == "cuda":
                peak = torch.cuda.max_memory_allocated(device) - start_bytes
            else:
                peak = sampler.stop()
        else:
            start = time.perf_counter()
            step()
            _sync(device)
            times.append(time.perf_counter() - start)
    return Measurement(seconds=statistics.median(times), seconds_all=times, peak_bytes=peak, saved_bytes=saved[0])


def measure_interleaved(
    steps: dict[str, Callable[[], None]], *, device: torch.device, rounds: int = 3
) -> dict[str, Measurement]:
    """Measure several callables in alternating rounds (A B C A B C ...), so a slow phase of a noisy
    machine hits all of them alike; memory and saved bytes come from each one's first round."""
    results: dict[str, Measurement] = {}
    for name, step in steps.items():
        results[name] = measure(step, device=device, repeats=1, warmup=1)
    for _ in range(rounds - 1):
        for name, step in steps.items():
            extra = measure(step, device=device, repeats=1, warmup=0)
            results[name].seconds_all += extra.seconds_all
    for result in results.values():
        result.seconds = statistics.median(result.seconds_all)
    return results


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
