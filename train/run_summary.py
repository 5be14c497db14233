"""What a run really is, read from the live objects at start: world size, batch per process and globally,
contrastive batch and negatives per anchor, accumulation, precision and the distributed backend in use.
``dynaflip-train`` prints it, train.log records it, and checkpoints carry the backend and precision."""

from __future__ import annotations

from dataclasses import dataclass

from .backend import Backend
from .config import TrainConfig
from .data import TrainingData


@dataclass(frozen=True)
class RunSummary:
    world_size: int
    process_group: str
    backend: str  # "DDP", "single process", "DeepSpeed ZeRO-n"
    precision: str
    per_process_batch: int
    accumulation: int
    global_batch: int
    contrastive_batch: int  # samples whose embeddings are candidates of every row (0: no contrastive loss)

    @property
    def negatives_per_anchor(self) -> int:
        """Candidates per row before the same-clip / same-instruction masks (logged per step)."""
        return max(0, self.contrastive_batch - 1)

    @classmethod
    def from_live(cls, backend: Backend, *, data: TrainingData, config: TrainConfig) -> RunSummary:
        per_process = data.config.batch_size  # what the loader really batches
        accumulation = config.optim.accumulation_steps  # micro-batches the train step really runs
        if backend.is_deepspeed:
            engine = backend.model
            engine_batch, engine_accumulation = (
                engine.train_micro_batch_size_per_gpu(),
                engine.gradient_accumulation_steps(),
            )
            if (engine_batch, engine_accumulation) != (per_process, accumulation):
                raise RuntimeError(
                    f"the DeepSpeed engine runs micro-batches of {engine_batch} x {engine_accumulation} accumulation, "
                    f"the loader {per_process} x {accumulation}"
                )
        world = backend.world_size
        global_batch = per_process * world * accumulation
        objective = config.objective
        contrastive = global_batch if (objective.has_alignment and objective.negatives) else 0
        return cls(
            world_size=world,
            process_group=backend.process_group,
            backend=backend.name,
            precision=backend.precision,
            per_process_batch=per_process,
            accumulation=accumulation,
            global_batch=global_batch,
            contrastive_batch=contrastive,
        )

    def line(self) -> str:
        negatives = (
            f"{self.negatives_per_anchor} negatives per anchor (contrastive batch {self.contrastive_batch}, "
            "before same-clip masking)"
            if self.contrastive_batch
            else "no contrastive negatives"
        )
        return (
            f"world size {self.world_size} ({self.process_group}), {self.backend}, precision {self.precision}; "
            f"batch {self.per_process_batch} per process x {self.world_size} process"
            f"{'es' if self.world_size != 1 else ''} x {self.accumulation} accumulation = global batch "
            f"{self.global_batch}; {negatives}"
        )
