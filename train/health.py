"""Representation health during training: the image features of a fixed set of held-out frames, scored with
:mod:`dynaflip.health` at step 0 and then every ``health.every`` steps (default: at every checkpoint).

The probe set, deterministic by construction (:mod:`dynaflip.health_frames`): the first ``health.samples``
samples of the extraction folder ``health.shards`` (its shards from sizes.json in sorted order, samples in
tar order), every stored frame of each (frame0..frameK, consecutive video frames), resized to
``data.image_size`` without augmentation. Each sample is one "episode" for the consecutive-frame ratio, its
frame index the order. The folder must not be one the run trains on: a task held out of pre-training is the
intended use.

Rows go to metrics.jsonl as ``{"step", "health_effective_rank", "health_pc1_share",
"health_consecutive_ratio", "health_frames", "health_width", "health_collapsed"}`` (plus the training row
of the same step when that was the last line, see :meth:`HealthMonitor.measure`) and to TensorBoard under
``health/``. A run whose features collapse against its own step 0 (see :class:`dynaflip.health.CollapseRule`)
gets a warning line on stderr and in train.log.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynaflip.health import CollapseRule, HealthMetrics, health_metrics
from dynaflip.health_frames import HealthDataError, read_shard_frames

from .config import TrainConfig

log = logging.getLogger("dynaflip.train.health")
METRICS_FILE = "metrics.jsonl"
PREFIX = "health_"


@dataclass
class ProbeFrames:
    """(N, 3, H, W) uint8 frames with their sample ("episode") index and frame index."""

    frames: torch.Tensor
    episode_ids: np.ndarray
    order: np.ndarray


def load_probe_frames(folder: str | Path, *, samples: int, image_size: int) -> ProbeFrames:
    """Every stored frame of the first ``samples`` samples of an extraction folder, resized to ``image_size``."""
    from PIL import Image

    read = read_shard_frames(folder, samples=samples)
    frames = [
        torch.from_numpy(np.asarray(Image.fromarray(image).resize((image_size, image_size), Image.BILINEAR)).copy())
        for image in read.images
    ]
    return ProbeFrames(frames=torch.stack(frames).permute(0, 3, 1, 2), episode_ids=read.episode_ids, order=read.order)


@torch.no_grad()
def encode_frames(
    encoder: torch.nn.Module, frames: torch.Tensor, *, mean: tuple[float, ...], std: tuple[float, ...], batch_size: int
) -> np.ndarray:
    """(N, D) float64 features of uint8 frames, the encoder in eval mode (its mode restored after)."""
    parameter = next(encoder.parameters())
    mean_t = torch.tensor(mean, device=parameter.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=parameter.device).view(1, 3, 1, 1)
    was_training = encoder.training
    encoder.eval()
    try:
        rows = []
        for start in range(0, len(frames), batch_size):
            batch = frames[start : start + batch_size].to(parameter.device).float() / 255.0
            rows.append(encoder(((batch - mean_t) / std_t).to(parameter.dtype)).float().cpu())
    finally:
        encoder.train(was_training)
    return torch.cat(rows).double().numpy()


class HealthMonitor:
    """Scores the held-out frames at step 0 and every ``every`` steps; does nothing when ``health.shards`` is
    unset or on processes other than the main one."""

    def __init__(
        self,
        config: TrainConfig,
        encoder: torch.nn.Module | None,
        *,
        run_dir: Path,
        writer: Any = None,
        step: int = 0,
    ) -> None:
        settings = config.health
        self.encoder = encoder if settings.shards else None
        self.run_dir = Path(run_dir)
        self.writer = writer
        self.every = settings.every or config.runtime.checkpoint_every
        self.rule = CollapseRule(rank_fraction=settings.rank_fraction, pc1_share=settings.pc1_share)
        self.batch_size = settings.batch_size
        self.initial: HealthMetrics | None = None
        if self.encoder is None:
            return
        trained = {str(Path(s.path).resolve()) for s in config.data.shards}
        if str(Path(settings.shards).resolve()) in trained:
            raise HealthDataError(f"health.shards: '{settings.shards}' is also in data.shards; hold these frames out")
        self.probe = load_probe_frames(settings.shards, samples=settings.samples, image_size=config.data.image_size)
        data_config = encoder.data_config
        self.mean, self.std = tuple(data_config["mean"]), tuple(data_config["std"])
        log.info("health: %d held-out frames of %s", len(self.probe.frames), settings.shards)
        self.initial = self._logged_initial()
        if step == 0:
            self.initial = self.measure(0)

    @classmethod
    def start(cls, config: TrainConfig, model: torch.nn.Module, *, run_dir: Path, writer: Any, step: int, main: bool):
        """The trainer's entry point: ``model`` is the unwrapped DynaFLIP model."""
        return cls(config, model.image_encoder if main else None, run_dir=run_dir, writer=writer, step=step)

    def after_step(self, step: int, *, last: bool = False) -> HealthMetrics | None:
        """Measure when ``step`` is due (every ``every`` steps, and at the last step)."""
        if self.encoder is None or not (last or step % self.every == 0):
            return None
        return self.measure(step)

    def measure(self, step: int) -> HealthMetrics:
        features = encode_frames(
            self.encoder, self.probe.frames, mean=self.mean, std=self.std, batch_size=self.batch_size
        )
        metrics = health_metrics(features, episode_ids=self.probe.episode_ids, order=self.probe.order)
        reasons = self.rule.reasons(metrics, self.initial) if step > 0 else []
        row = {
            "step": step,
            **{PREFIX + k: v for k, v in metrics.to_json().items()},
            PREFIX + "collapsed": bool(reasons),
        }
        path = self.run_dir / METRICS_FILE
        # Readers keep the last row of each step (a resumed run logs steps again): carry the training row of
        # this step along, so that the loss logged at a checkpoint step is not hidden by its health row.
        previous = _last_row(path)
        if previous.get("step") == step and PREFIX + "effective_rank" not in previous:
            row = {**previous, **row}
        with open(path, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for key in ("effective_rank", "pc1_share", "consecutive_ratio"):
                value = getattr(metrics, key)
                if value is not None:
                    self.writer.add_scalar(f"health/{key}", value, step)
            self.writer.flush()
        log.info("health at step %d: %s", step, metrics.line())
        if reasons:
            message = f"representation collapse at step {step}: {'; '.join(reasons)} (health on held-out frames)"
            log.warning(message)
            print(f"dynaflip-train: WARNING {message}", file=sys.stderr, flush=True)
        return metrics

    def _logged_initial(self) -> HealthMetrics | None:
        """Step 0's health from an earlier part of this run (a resumed run does not measure it again)."""
        path = self.run_dir / METRICS_FILE
        if not path.is_file():
            return None
        for line in path.read_text().splitlines():
            row = json.loads(line) if line.strip() else {}
            if row.get("step") == 0 and PREFIX + "effective_rank" in row:
                fields = ("effective_rank", "pc1_share", "consecutive_ratio", "frames", "width")
                return HealthMetrics(**{key: row[PREFIX + key] for key in fields})
        return None


def _last_row(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def health_rows(run_dir: str | Path) -> list[dict[str, Any]]:
    """The health rows of a run's metrics.jsonl, in step order (for reports and tests)."""
    path = Path(run_dir) / METRICS_FILE
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    return sorted((row for row in rows if PREFIX + "effective_rank" in row), key=lambda row: row["step"])
