"""One optimiser step: batch preparation, forward, the loss, backward, update.

With one micro-batch the step is the plain forward / loss / backward. With k > 1 micro-batches
(``optim.accumulation_steps``) the contrastive losses still see the whole accumulated batch as negatives,
as GradCache does: (1) every micro-batch is encoded without a graph and its outputs cached; (2) the loss
of the full batch is computed on the cached outputs (made leaves) and differentiated down to them; (3) each
micro-batch is encoded again with a graph, under the random state of its first pass, and backpropagates
the cached output gradients. The parameter gradients equal those of the full batch in one pass (tested),
for one more forward pass per micro-batch; the activation memory stays that of one micro-batch.

The forward and the loss are :mod:`dynaflip.step`'s (the benches and tests run the same functions); only
what ties the step to accelerate's backend (backward, micro-batch sync, the update) is here. The loss
always runs outside autocast and in float32 (see ``dynaflip.objective.loss``).
"""

from __future__ import annotations

import dataclasses

import torch

from dynaflip.batch import Batch
from dynaflip.models.dynaflip_model import DynaFLIPOutputs
from dynaflip.models.text_encoder import FrozenTextEncoder, TextEncoderConfig
from dynaflip.objective import DynaFLIPLoss, LossOutput
from dynaflip.step import compute_loss, forward, forward_and_loss

from .backend import Backend


class BatchPreparer:
    """Loaded batches (uint8 frames, cached or raw instructions) -> prepared batches on the device: frames
    normalised, floating inputs in the model's input dtype (points at least float32), text embedded."""

    def __init__(
        self,
        *,
        device: torch.device,
        dtype: torch.dtype,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        text: TextEncoderConfig | None,
    ) -> None:
        self.device = device
        self.dtype = dtype
        self.mean = torch.tensor(mean, device=device).view(1, 1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 1, 3, 1, 1)
        self.text = text  # None: the objective does not use language
        self._text_encoder: FrozenTextEncoder | None = None

    def __call__(self, batch: Batch) -> Batch:
        frames = (batch.frames.to(self.device, non_blocking=True).float() / 255.0 - self.mean) / self.std
        text_embedding = self._text_embedding(batch)
        prepared = dataclasses.replace(batch, frames=frames, text_embedding=text_embedding)
        return prepared.to(self.device, dtype=self.dtype)

    def _text_embedding(self, batch: Batch) -> torch.Tensor | None:
        if self.text is None:
            return None
        if batch.text_embedding is not None and batch.text_encoder == self.text.name:
            return batch.text_embedding.to(self.device)
        if self._text_encoder is None:
            self._text_encoder = FrozenTextEncoder(self.text).to(self.device)
        return self._text_encoder(batch.instructions)


class TrainStep:
    """Forward, loss and backward of one optimiser step over its micro-batches, then the update."""

    def __init__(self, *, backend: Backend, loss_fn: DynaFLIPLoss) -> None:
        self.backend = backend
        self.loss_fn = loss_fn

    def __call__(self, micro_batches: list[Batch]) -> LossOutput:
        if len(micro_batches) == 1:
            result = self._single(micro_batches[0])
        else:
            result = self._cached(micro_batches)
        self.backend.step()
        return result

    def _single(self, inputs: Batch) -> LossOutput:
        backend = self.backend
        with backend.micro_batch(last=True):
            result = forward_and_loss(backend.model, self.loss_fn, inputs, autocast=backend.autocast())
            backend.backward(result.total)
        return result

    def _cached(self, micro_batches: list[Batch]) -> LossOutput:
        backend = self.backend
        device = micro_batches[0].frames.device
        states, cached = [], []
        with torch.no_grad():
            for inputs in micro_batches:
                states.append(_rng_state(device))
                with backend.autocast():
                    cached.append(forward(backend.model, inputs))
        leaves = _leaves(cached, learnable_scale=self.loss_fn.config.learnable_temperature)
        result = compute_loss(
            self.loss_fn,
            leaves,
            text_ids=torch.cat([m.text_ids for m in micro_batches]),
            clip_ids=torch.cat([m.clip_ids for m in micro_batches]),
        )
        result.total.backward()  # down to the cached outputs only (collectives of the gathers included)
        gradients = _gradients(leaves)
        start = 0
        for index, inputs in enumerate(micro_batches):
            last = index == len(micro_batches) - 1
            size = inputs.frames.shape[0]
            _set_rng_state(device, states[index])
            with backend.micro_batch(last=last):
                with backend.autocast():
                    outputs = forward(backend.model, inputs)
                surrogate = _surrogate(outputs, gradients, start=start, stop=start + size, with_scale=last)
                backend.backward(surrogate)
            start += size
        return LossOutput(
            total=result.total.detach(),
            terms={k: v.detach() for k, v in result.terms.items()},
            metrics=result.metrics,
        )


_DIFFERENTIABLE = ("frame_features", "actor_prediction")


def _leaves(cached: list[DynaFLIPOutputs], *, learnable_scale: bool) -> DynaFLIPOutputs:
    """The micro-batches' outputs concatenated, the differentiable ones as leaves that collect gradients."""

    def join(tensors: list[torch.Tensor | None], *, leaf: bool) -> torch.Tensor | None:
        if tensors[0] is None:
            return None
        joined = torch.cat(tensors)
        return joined.requires_grad_(True) if leaf else joined

    first = cached[0]
    return DynaFLIPOutputs(
        embeddings={name: join([c.embeddings[name] for c in cached], leaf=True) for name in first.embeddings},
        frame_features=join([c.frame_features for c in cached], leaf=True),
        actor_prediction=join([c.actor_prediction for c in cached], leaf=True),
        actor_target=join([c.actor_target for c in cached], leaf=False),
        actor_mask=join([c.actor_mask for c in cached], leaf=False),
        logit_scale=first.logit_scale.detach().clone().requires_grad_(learnable_scale),
    )


def _gradients(leaves: DynaFLIPOutputs) -> dict[str, torch.Tensor | None]:
    out: dict[str, torch.Tensor | None] = {f"embeddings.{k}": v.grad for k, v in leaves.embeddings.items()}
    for name in _DIFFERENTIABLE:
        tensor = getattr(leaves, name)
        out[name] = tensor.grad if tensor is not None else None
    out["logit_scale"] = leaves.logit_scale.grad
    return out


def _surrogate(
    outputs: DynaFLIPOutputs, gradients: dict[str, torch.Tensor | None], *, start: int, stop: int, with_scale: bool
) -> torch.Tensor:
    """sum <output, d loss / d output> over this micro-batch's rows: its backward gives the parameters the
    micro-batch's share of the full-batch gradient. The learnable temperature (one value for the whole
    batch) is added once, on the last micro-batch, the one whose backward DDP synchronises."""
    pairs = [(outputs.embeddings[k], gradients[f"embeddings.{k}"]) for k in outputs.embeddings]
    pairs += [(getattr(outputs, name), gradients[name]) for name in _DIFFERENTIABLE]
    total = outputs.logit_scale.new_zeros((), dtype=torch.float32)
    for output, gradient in pairs:
        if output is None:
            continue
        dtype = torch.promote_types(output.dtype, torch.float32)  # bf16 -> float32; float64 stays
        # An output the loss did not use still joins the graph (with weight 0), so DDP sees every parameter.
        weight = gradient[start:stop].to(dtype) if gradient is not None else torch.zeros_like(output, dtype=dtype)
        total = total + (output.to(dtype) * weight).sum()
    if with_scale and gradients["logit_scale"] is not None and outputs.logit_scale.requires_grad:
        total = total + (outputs.logit_scale * gradients["logit_scale"]).sum()
    return total


def _rng_state(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(device: torch.device, state: tuple[torch.Tensor, torch.Tensor | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)
