"""Training loader throughput: samples/s by loader workers, from local disk and from an S3 server on loopback.

The data are synthetic triplets at camera-like resolution (JPEG frames, a 20x20 flow grid) written as real
tar shards, read by the trainer's own loader (train/data.py: decode, augmentation, collate) over several
epochs, so the cost of crossing epochs is in the rate (the workers persist across them). The remote rate
reads the same shards from moto's S3 server on 127.0.0.1 through s3fs (the network cost here is the HTTP
and S3 protocol on loopback, not a real link's bandwidth or latency).

Printed: samples/s for each worker count and source, the remote/local ratio, the one-worker/main-process
ratio, and with --step-rate (samples/s one training process consumes, e.g. from bench/train.py) the
number of workers at which the loader keeps up.

    .venv/bin/python bench/loader.py                              # 64 triplets, batch 16 (4-batch epochs)
    .venv/bin/python bench/loader.py --workers 0,1,2 --step-rate 40 --no-remote
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dynaflip.train.config import DataConfig, ShardSet  # noqa: E402
from dynaflip.train.data import StreamState, TrainingData  # noqa: E402


def loader_rate(path: str, *, workers: int, args: argparse.Namespace) -> float:
    config = DataConfig(
        shards=[ShardSet(path=path)],
        batch_size=args.batch,
        workers=workers,
        image_size=args.image_size,
        shuffle_buffer=100,
    )
    data = TrainingData(config, grid_size=args.grid, seed=0, rank=0, world_size=1)
    iterator = data.batches(StreamState())
    next(iterator)  # workers started, first shard open
    start = time.perf_counter()
    for _ in range(args.batches):
        next(iterator)
    return args.batches * args.batch / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=64, help="triplets in the shard set")
    parser.add_argument("--per-shard", type=int, default=16)
    parser.add_argument("--size", type=int, default=224, help="stored frame size (pixels)")
    parser.add_argument("--image-size", type=int, default=224, help="training crop size")
    parser.add_argument("--grid", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=16, help="timed batches (after the first)")
    parser.add_argument("--workers", default="0,1,2", help="comma-separated worker counts")
    parser.add_argument("--step-rate", type=float, help="samples/s one training process consumes")
    parser.add_argument("--no-remote", action="store_true", help="local disk only")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the main process (a worker uses 1)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)  # the main-process rate then compares with one worker's like for like
    from tests.helpers.shards import write_synthetic_shards

    counts = [int(w) for w in args.workers.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="dynaflip-bench-loader-")) / "syn"
    write_synthetic_shards(
        folder, shards=max(1, args.samples // args.per_shard), per_shard=args.per_shard, grid_size=args.grid,
        steps=7, size=args.size,
    )  # fmt: skip
    sources = {"local": str(folder)}
    server = None
    if not args.no_remote:
        from tests.helpers.s3_server import make_bucket, s3_environment, s3_server, upload_folder

        server = s3_server()
        endpoint = server.__enter__()
        make_bucket(endpoint, "bench")
        upload_folder(endpoint, folder, "s3://bench/syn")
        os.environ.update(s3_environment(endpoint))
        sources["s3-loopback"] = "s3://bench/syn"
    epochs = args.samples // args.batch
    print(f"# {args.samples} triplets {args.size}px grid {args.grid}, batch {args.batch} ({epochs}-batch epochs), "
          f"{args.batches} timed batches, {os.cpu_count()} CPUs")  # fmt: skip
    rates: dict[tuple[str, int], float] = {}
    try:
        for workers in counts:
            for name, path in sources.items():
                rates[name, workers] = loader_rate(path, workers=workers, args=args)
                print(f"{name:<12} workers {workers}: {rates[name, workers]:7.1f} samples/s", flush=True)
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    if 0 in counts and 1 in counts:
        for name in sources:
            print(f"{name}: 1 worker / main process = x{rates[name, 1] / rates[name, 0]:.2f}")
    if "s3-loopback" in sources:
        for workers in counts:
            ratio = rates["s3-loopback", workers] / rates["local", workers]
            print(f"workers {workers}: s3-loopback / local = x{ratio:.2f}")
    if args.step_rate:
        for name in sources:
            per_worker = max(rates[name, w] / w for w in counts if w > 0) if any(counts) else rates[name, 0]
            need = math.ceil(args.step_rate / per_worker)
            print(f"{name}: {per_worker:.1f} samples/s per worker; {need} workers match a step consuming "
                  f"{args.step_rate:.1f} samples/s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
