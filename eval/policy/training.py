"""Behaviour cloning on cached demonstration features: MSE between the policy's and the expert's actions."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .demos import Demo
from .model import INPUT_CLIP, STD_FLOOR, TRANSFORM_WIDTH, BCPolicy, InputTransform


@dataclass
class BCData:
    """(N, D + 4) inputs [features ; proprioception] and (N, 4) target actions, every step of some demos."""

    inputs: np.ndarray
    actions: np.ndarray

    @classmethod
    def from_demos(cls, features: Sequence[np.ndarray], demos: Sequence[Demo]) -> BCData:
        """Stack per-demo (T, D) features with each demo's proprioception and actions."""
        if len(features) != len(demos) or not demos:
            raise ValueError(f"BCData: expected one feature array per demo, got {len(features)} for {len(demos)}")
        rows = []
        for array, demo in zip(features, demos, strict=True):
            if array.shape[0] != demo.steps:
                raise ValueError(f"{demo.task} seed {demo.seed}: {array.shape[0]} feature rows for {demo.steps} steps")
            rows.append(np.concatenate([array.astype(np.float32), demo.proprio.astype(np.float32)], axis=1))
        actions = np.concatenate([demo.actions for demo in demos]).astype(np.float32)
        return cls(inputs=np.concatenate(rows), actions=actions)

    def __len__(self) -> int:
        return int(self.inputs.shape[0])


@dataclass
class TrainSummary:
    """What one behaviour-cloning run did (losses are mean squared errors per action component)."""

    task: str
    seed: int
    samples: int
    epochs: int
    best_epoch: int  # 1-based epoch whose weights were kept
    train_loss: float  # of the kept weights, over the training set
    val_loss: float | None  # of the kept weights, over the validation set
    seconds: float

    def to_json(self) -> dict:
        return asdict(self)


def _mse(policy: BCPolicy, inputs: torch.Tensor, actions: torch.Tensor, *, batch: int = 4096) -> float:
    with torch.no_grad():
        total = sum(
            float(torch.nn.functional.mse_loss(policy(inputs[i : i + batch]), actions[i : i + batch], reduction="sum"))
            for i in range(0, len(inputs), batch)
        )
    return total / max(1, actions.numel())


def train_bc(
    train: BCData,
    val: BCData | None,
    *,
    task: str,
    seed: int,
    hidden: Sequence[int],
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.0,
    select: str = "best",
    std_floor: float = STD_FLOOR,
    input_clip: float | None = INPUT_CLIP,
    input_transform: InputTransform = "standardise",
    transform_width: int = TRANSFORM_WIDTH,
    device: str | torch.device = "cpu",
    threads: int | None = 1,
) -> tuple[BCPolicy, TrainSummary]:
    """Train a :class:`BCPolicy` with Adam; ``seed`` fixes the initialisation and the batch order.

    ``std_floor``, ``input_clip``, ``input_transform`` and ``transform_width``: the input transform (see
    :mod:`.model`), fitted on ``train`` alone.
    ``select="best"`` keeps the epoch with the lowest validation loss, ``"last"`` the final epoch.
    ``threads``: torch threads while training (None: unchanged). The MLP's steps are too small to share
    between threads: with 2 threads on 2 busy cores training was 15-20x slower than with 1.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _train(train, val, task=task, seed=seed, hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr,
                      weight_decay=weight_decay, select=select, std_floor=std_floor, input_clip=input_clip,
                      input_transform=input_transform, transform_width=transform_width, device=device)  # fmt: skip
    finally:
        torch.set_num_threads(previous)


def _train(
    train: BCData,
    val: BCData | None,
    *,
    task: str,
    seed: int,
    hidden: Sequence[int],
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    select: str,
    std_floor: float,
    input_clip: float | None,
    input_transform: InputTransform,
    transform_width: int,
    device: str | torch.device,
) -> tuple[BCPolicy, TrainSummary]:
    if select not in ("best", "last"):
        raise ValueError(f"select: expected 'best' or 'last', got {select!r}")
    if select == "best" and (val is None or len(val) == 0):
        raise ValueError("select: 'best' needs validation data")
    started = time.perf_counter()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(train.inputs).to(device)
    y = torch.from_numpy(train.actions).to(device)
    xv = torch.from_numpy(val.inputs).to(device) if val is not None and len(val) else None
    yv = torch.from_numpy(val.actions).to(device) if val is not None and len(val) else None
    policy = BCPolicy(
        feature_dim=train.inputs.shape[1] - 4,
        hidden=list(hidden),
        input_clip=input_clip,
        input_transform=input_transform,
        transform_width=transform_width,
    ).to(device)
    policy.set_standardisation(x, std_floor=std_floor)  # the training inputs only: never validation or rollouts
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr, weight_decay=weight_decay)
    best_loss, best_epoch, best_state = float("inf"), epochs, None
    for epoch in range(1, epochs + 1):
        policy.train()
        order = torch.randperm(len(x), generator=generator).to(device)
        for start in range(0, len(x), batch_size):
            index = order[start : start + batch_size]
            loss = torch.nn.functional.mse_loss(policy(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if select == "best":
            policy.eval()
            val_loss = _mse(policy, xv, yv)
            if val_loss < best_loss:
                best_loss, best_epoch, best_state = val_loss, epoch, copy.deepcopy(policy.state_dict())
    if best_state is not None:
        policy.load_state_dict(best_state)
    policy.eval()
    summary = TrainSummary(
        task=task,
        seed=int(seed),
        samples=len(train),
        epochs=int(epochs),
        best_epoch=int(best_epoch),
        train_loss=_mse(policy, x, y),
        val_loss=_mse(policy, xv, yv) if xv is not None else None,
        seconds=time.perf_counter() - started,
    )
    return policy.cpu(), summary
