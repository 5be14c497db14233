"""The learning-rate schedule as a function of the optimiser step (closed forms), and the rate set on every
parameter group. That the trainer applies it per optimiser step whatever the world size is checked across
real processes in test_train_distributed.py."""

import math

import pytest
import torch

from dynaflip.train.config import OptimConfig
from dynaflip.train.schedule import learning_rate, set_learning_rate


def test_warmup_is_linear_and_decay_is_cosine_to_the_floor():
    optim = OptimConfig(lr=1e-3, warmup_steps=4, min_lr_ratio=0.1)
    total = 24
    rates = [learning_rate(step, optim=optim, total=total) for step in range(total + 1)]
    assert rates[:4] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    for step in range(4, total + 1):
        progress = (step - 4) / (total - 4)
        want = 1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        assert rates[step] == pytest.approx(want, rel=1e-12), step
    assert rates[14] == pytest.approx(1e-3 * (0.1 + 0.9 / 2))  # half way: half way between peak and floor
    assert learning_rate(10 * total, optim=optim, total=total) == pytest.approx(1e-4)  # stays at the floor


def test_rate_is_set_on_every_parameter_group():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.AdamW([{"params": [a], "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0}])
    set_learning_rate(optimizer, 3e-4)
    assert [group["lr"] for group in optimizer.param_groups] == [3e-4, 3e-4]
