"""The distributed backend actually in use, built through accelerate: one process, DDP, or a DeepSpeed ZeRO
engine. What the trainer reports (backend, ZeRO stage, precision, process group) is read from these live
objects, never from the config, so no log can claim what did not run.

DeepSpeed on the CPU: accelerate drops its DeepSpeed plugin when ``cpu=True``. Without a GPU we therefore
build the accelerator with ``cpu=False`` and a gloo process group; DeepSpeed then selects its own CPU
accelerator and constructs a real ZeRO engine (checked by the tests: engine type, stage, checkpoint layout).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import TrainConfig

log = logging.getLogger("dynaflip.train")


def use_cpu(config: TrainConfig) -> bool:
    return config.runtime.cpu or not torch.cuda.is_available()


def mixed_precision(config: TrainConfig) -> str:
    """accelerate's name for the precision: "bf16" or "no". ``auto`` means bf16 on a GPU that supports it;
    an explicit ``bf16`` is honoured everywhere (CPU autocast, or DeepSpeed's bf16 engine on the CPU)."""
    wanted = config.runtime.precision
    if wanted == "bf16":
        return "bf16"
    if wanted == "auto" and not use_cpu(config) and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def world_size_from_environment() -> int:
    """The world size torchrun / Slurm announce before the process group exists (1 without them)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def deepspeed_config(config: TrainConfig, *, micro_batch: int, precision: str) -> dict[str, Any]:
    """The JSON file of ``runtime.deepspeed_config`` with the fields the trainer owns filled in."""
    path = Path(config.runtime.deepspeed_config or "")
    if not path.is_file():
        raise FileNotFoundError(f"runtime.deepspeed_config: '{path}' not found (see configs/deepspeed/)")
    try:
        ds_config = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"runtime.deepspeed_config: '{path}' is not valid JSON ({error})") from error
    stage = ds_config.get("zero_optimization", {}).get("stage", 0)
    if stage not in (0, 1, 2):
        raise ValueError(f"{path}: zero_optimization.stage: expected 0, 1 or 2 (stage 3 is not supported), got {stage}")
    # The trainer owns these (configs/deepspeed/ leaves them out): the batch (accelerate cannot read it from a
    # loader it does not prepare), accumulation, clipping and precision follow the recipe.
    ds_config["train_micro_batch_size_per_gpu"] = micro_batch
    ds_config["gradient_accumulation_steps"] = config.optim.accumulation_steps
    ds_config["gradient_clipping"] = config.optim.grad_clip if config.optim.grad_clip > 0 else 0.0
    ds_config["bf16"] = {"enabled": precision == "bf16"}
    ds_config.pop("fp16", None)
    ds_config.pop("train_batch_size", None)
    ds_config.pop("scheduler", None)  # the trainer sets the rate itself (train/schedule.py)
    return ds_config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _single_process_group_environment() -> None:
    """DeepSpeed needs a process group even for one process started without torchrun."""
    if "RANK" in os.environ:
        return
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_free_port()))


def build_accelerator(config: TrainConfig, *, micro_batch: int):
    """An Accelerator for DDP / one process, or one that builds a DeepSpeed engine (also on the CPU)."""
    from datetime import timedelta

    from accelerate import Accelerator
    from accelerate.utils import InitProcessGroupKwargs

    precision = mixed_precision(config)
    timeout = timedelta(minutes=config.runtime.timeout_minutes)
    if not config.runtime.deepspeed_config:
        return Accelerator(
            cpu=use_cpu(config), mixed_precision=precision, kwargs_handlers=[InitProcessGroupKwargs(timeout=timeout)]
        )
    try:
        from accelerate import DeepSpeedPlugin
    except ImportError as error:  # pragma: no cover - accelerate always has these
        raise ValueError(f"runtime.deepspeed_config: accelerate cannot use DeepSpeed here ({error})") from error
    if config.runtime.cpu and torch.cuda.is_available():
        raise ValueError(
            "runtime.cpu=true with runtime.deepspeed_config on a machine with a GPU: hide the GPUs "
            "(CUDA_VISIBLE_DEVICES=) to run DeepSpeed on the CPU"
        )
    ds_config = deepspeed_config(config, micro_batch=micro_batch, precision=precision)
    cpu = use_cpu(config)
    if cpu and "deepspeed" not in sys.modules:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    try:
        import deepspeed  # noqa: F401
    except ImportError as error:
        raise ValueError(
            "runtime.deepspeed_config: DeepSpeed is not installed (pip install 'dynaflip[train]')"
        ) from error
    _single_process_group_environment()
    handlers = [InitProcessGroupKwargs(timeout=timeout, **({"backend": "gloo"} if cpu else {}))]
    # cpu=False even without a GPU: accelerate ignores the DeepSpeed plugin when cpu=True.
    return Accelerator(
        cpu=False,
        mixed_precision=precision,
        gradient_accumulation_steps=config.optim.accumulation_steps,
        deepspeed_plugin=DeepSpeedPlugin(hf_ds_config=ds_config),
        kwargs_handlers=handlers,
    )


def _deepspeed_engine_class():
    if "deepspeed" not in sys.modules:
        return None
    from deepspeed import DeepSpeedEngine

    return DeepSpeedEngine


@dataclass
class Backend:
    """The prepared model and optimiser, and how to run a micro-batch's backward and an optimiser step."""

    accelerator: Any
    model: torch.nn.Module  # DDP-wrapped, a DeepSpeedEngine, or the module itself (one process)
    optimizer: Any  # accelerate's wrapper of the optimiser
    base_optimizer: torch.optim.Optimizer  # the torch optimiser built by the trainer (rates are set on it)
    grad_clip: float

    @property
    def is_deepspeed(self) -> bool:
        engine = _deepspeed_engine_class()
        return engine is not None and isinstance(self.model, engine)

    @property
    def zero_stage(self) -> int | None:
        return int(self.model.zero_optimization_stage()) if self.is_deepspeed else None

    @property
    def name(self) -> str:
        """ "DeepSpeed ZeRO-n", "DDP" or "single process", from the prepared model's type."""
        if self.is_deepspeed:
            return f"DeepSpeed ZeRO-{self.zero_stage}"
        if isinstance(self.model, torch.nn.parallel.DistributedDataParallel):
            return "DDP"
        return "single process"

    @property
    def world_size(self) -> int:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_world_size()
        return 1

    @property
    def process_group(self) -> str:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return str(torch.distributed.get_backend())
        return "no process group"

    @property
    def parameter_dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def input_dtype(self) -> torch.dtype:
        """The dtype the model's floating inputs must have: the parameters' under DeepSpeed (it casts the
        module and turns autocast off), float32 otherwise (autocast converts, when on)."""
        return self.parameter_dtype if self.is_deepspeed else torch.float32

    @property
    def precision(self) -> str:
        if self.is_deepspeed:
            if self.model.bfloat16_enabled():
                return f"bf16 (DeepSpeed engine: {self.parameter_dtype} parameters, fp32 master weights)"
            return f"fp32 ({self.parameter_dtype} parameters)"
        if self.accelerator.mixed_precision == "bf16":
            return f"bf16 autocast ({self.parameter_dtype} parameters)"
        return f"fp32 ({self.parameter_dtype} parameters)"

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.is_deepspeed:
            return contextlib.nullcontext()  # the engine runs in its own dtype; inputs are cast instead
        return self.accelerator.autocast()

    @contextlib.contextmanager
    def micro_batch(self, *, last: bool) -> Iterator[None]:
        """Wrap one micro-batch's forward and backward: gradients are all-reduced only on the ``last``."""
        if not last and isinstance(self.model, torch.nn.parallel.DistributedDataParallel):
            with self.model.no_sync():
                yield
        else:
            yield

    def backward(self, loss: torch.Tensor) -> None:
        """Accumulate the gradient of ``loss`` as it is (the trainer's losses are already per step)."""
        if self.is_deepspeed:
            self.model.backward(loss, scale_wrt_gas=False)
            self.model.step()  # DeepSpeed counts micro-batches and updates at the accumulation boundary
        else:
            loss.backward()

    def step(self) -> None:
        """After the last micro-batch: clip, update, clear (DeepSpeed did all three in its ``step``)."""
        if self.is_deepspeed:
            return
        if self.grad_clip > 0:
            self.accelerator.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def fp32_state_dict(self, module_name: str) -> dict[str, torch.Tensor]:
        """The float32 weights of a submodule of the model. Under DeepSpeed these are the optimiser's master
        weights (the module holds bf16 copies when bf16 is on), gathered from their ZeRO partitions: a
        collective, every rank must call it."""
        unwrapped = self.accelerator.unwrap_model(self.model)
        module = unwrapped.get_submodule(module_name)
        if not self.is_deepspeed:
            return {name: tensor.detach() for name, tensor in module.state_dict().items()}
        from deepspeed.utils import safe_get_full_fp32_param

        out = {}
        parameters = dict(module.named_parameters())
        for name, tensor in module.state_dict().items():
            master = safe_get_full_fp32_param(parameters[name]) if name in parameters else None
            if master is not None:
                out[name] = master.detach()
            else:  # buffers, and parameters without a partitioned master copy (ZeRO-0 in fp32)
                out[name] = tensor.detach().float() if tensor.is_floating_point() else tensor.detach()
        return out


def prepare(accelerator, model: torch.nn.Module, optimizer: torch.optim.Optimizer, *, grad_clip: float) -> Backend:
    prepared_model, prepared_optimizer = accelerator.prepare(model, optimizer)
    return Backend(
        accelerator=accelerator,
        model=prepared_model,
        optimizer=prepared_optimizer,
        base_optimizer=optimizer,
        grad_clip=grad_clip if not _is_engine(prepared_model) else 0.0,
    )


def _is_engine(model: torch.nn.Module) -> bool:
    engine = _deepspeed_engine_class()
    return engine is not None and isinstance(model, engine)
