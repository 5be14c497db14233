"""Two real processes (gloo on 127.0.0.1, DDP): the distributed loss and gradients equal the single-process
loss and gradients on the concatenated batch, for the global-negative area loss, the temporal loss and the
actor loss together."""

import pytest
import torch
import torch.distributed as dist

from dynaflip.models import DynaFLIP
from dynaflip.objective import DynaFLIPLoss, ObjectiveConfig
from dynaflip.step import forward_and_loss
from dynaflip.synthetic import synthetic_batch
from tests.helpers.distributed import run_distributed
from tests.helpers.tiny import tiny_model_config

GLOBAL_BATCH = 8
CONFIGS = {
    "full": {},
    "pairwise": {"alignment": "pairwise"},
}


def make(config_name):
    torch.manual_seed(0)
    objective = ObjectiveConfig(**CONFIGS[config_name])
    model = DynaFLIP(tiny_model_config(), objective, text_dim=24).double()
    batch = synthetic_batch(
        GLOBAL_BATCH, image_size=32, grid_size=4, flow_steps=3, text_dim=24, num_instructions=3, seed=3
    )
    return model, DynaFLIPLoss(objective), batch.to(dtype=torch.float64)


def step(model, loss_fn, batch):
    result = forward_and_loss(model, loss_fn, batch)
    result.total.backward()
    return result


def distributed_worker(rank, world_size, config_name, out_path):
    model, loss_fn, batch = make(config_name)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    local = GLOBAL_BATCH // world_size
    shard = batch.rows(rank * local, (rank + 1) * local)
    result = step(ddp, loss_fn, shard)
    terms = torch.stack([result.total.detach(), *[t.detach() for t in result.terms.values()]])
    dist.all_reduce(terms)
    terms /= world_size
    if rank == 0:
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        torch.save({"terms": terms, "grads": grads}, out_path)


@pytest.mark.parametrize("config_name", list(CONFIGS))
def test_two_process_loss_and_gradients_equal_single_process(tmp_path, config_name):
    model, loss_fn, batch = make(config_name)
    result = step(model, loss_fn, batch)
    want_terms = torch.stack([result.total.detach(), *[t.detach() for t in result.terms.values()]])
    want_grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}

    out_path = tmp_path / "rank0.pt"
    run_distributed(distributed_worker, config_name, str(out_path), world_size=2)
    got = torch.load(out_path)

    torch.testing.assert_close(got["terms"], want_terms, rtol=1e-9, atol=1e-12)
    assert set(got["grads"]) == set(want_grads)
    for name, grad in want_grads.items():
        torch.testing.assert_close(got["grads"][name], grad, rtol=1e-7, atol=1e-10, msg=f"gradient of {name}")
