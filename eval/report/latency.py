"""Forward latency of an encoder on this machine: uint8 images at the encoder's input size -> features.

What is timed is :meth:`EvalEncoder.features` (normalisation, the copy to the device, the forward and the
copy back: what a policy pays per observation), at batch 1 and 32, as the median of ``runs`` timed calls
after ``warmup`` untimed ones. CUDA calls end with the copy back to the host, so they are synchronised.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..encoders import EncoderSpecError, EvalEncoder
from ..policy.features import open_encoder

BATCH_SIZES = (1, 32)


def latency_devices(requested: str) -> tuple[list[str], str | None]:
    """Devices to time on, and a note when the request cannot be met: always the CPU, plus CUDA when asked
    for and available."""
    if requested == "cpu":
        return ["cpu"], None
    if requested.startswith("cuda"):
        if torch.cuda.is_available():
            return ["cpu", requested], None
        return ["cpu"], f"--device {requested}: no CUDA device is available here; timed on the CPU only"
    raise ValueError(f"--device: expected cpu or cuda[:N], got {requested!r}")


def time_features(
    encoder: EvalEncoder,
    *,
    device: str,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    warmup: int = 1,
    runs: int = 5,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One record per batch size: median and all timed milliseconds per call, and per image."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"latency: expected runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    size = encoder.preprocess.size
    rng = np.random.default_rng(seed)
    records = []
    for batch in batch_sizes:
        images = rng.integers(0, 256, size=(batch, size, size, 3), dtype=np.uint8)
        for _ in range(warmup):
            encoder.features(images, batch_size=batch, device=device)
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            encoder.features(images, batch_size=batch, device=device)
            timings.append(1000 * (time.perf_counter() - started))
        median = statistics.median(timings)
        records.append(
            {
                "device": device,
                "batch": batch,
                "image_size": size,
                "median_ms": median,
                "per_image_ms": median / batch,
                "runs_ms": timings,
            }
        )
    encoder.module.to("cpu")
    return records


def machine() -> dict[str, Any]:
    """Where the latencies were measured."""
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def measure_latencies(
    specs: dict[str, str], *, device: str = "cpu", runs: int = 5, warmup: int = 1
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Latency records per encoder label, loading each encoder from its recorded spec; an encoder that
    cannot be loaded here gets ``{"error": reason}``. Returns (records, note about the devices)."""
    devices, note = latency_devices(device)
    out: dict[str, dict[str, Any]] = {}
    for label, spec in specs.items():
        try:
            encoder = open_encoder(spec)
        except EncoderSpecError as error:
            out[label] = {"spec": spec, "error": str(error)}
            continue
        records = [
            record for name in devices for record in time_features(encoder, device=name, runs=runs, warmup=warmup)
        ]
        out[label] = {"spec": spec, "parameters": encoder.parameters, "records": records}
    return out, note
