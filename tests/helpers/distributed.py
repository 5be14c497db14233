"""Run a function in N real processes joined by torch.distributed (gloo on 127.0.0.1)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _entry(rank: int, world_size: int, port: int, function: Callable, args: tuple) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size))
    import torch

    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        function(rank, world_size, *args)
    finally:
        dist.destroy_process_group()


def run_distributed(function: Callable, *args, world_size: int = 2) -> None:
    """Start ``world_size`` processes running ``function(rank, world_size, *args)``; raise if any fails."""
    mp.start_processes(_entry, args=(world_size, free_port(), function, args), nprocs=world_size, start_method="spawn")
