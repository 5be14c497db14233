"""Generated training batches with consistent geometry, for smoke runs, benchmarks and tests.

Each sample is a textured plane of points seen by a pinhole camera, moving rigidly over K steps; the
frames are random images (the objective does not need them to match the flow to run), the instruction
ids repeat across samples as real instructions do.
"""

from __future__ import annotations

import torch

from dynaflip.batch import Batch


def synthetic_batch(
    batch_size: int,
    *,
    image_size: int = 224,
    grid_size: int = 20,
    flow_steps: int = 7,
    text_dim: int = 384,
    num_instructions: int = 4,
    invisible_fraction: float = 0.1,
    seed: int = 0,
) -> Batch:
    """A prepared :class:`~dynaflip.batch.Batch` (float frames, as if normalised): frames (B, 3, 3, S, S),
    points3d (B, K, N, 3), points3d_valid (B, K, N), text_embedding (B, text_dim), text_ids (B,), clip_ids
    (B,); no queries2d (the model's default query grid), instructions named after their text id."""
    generator = torch.Generator().manual_seed(seed)
    num_points = grid_size**2
    xs = torch.linspace(-0.3, 0.3, grid_size)
    grid_x, grid_y = torch.meshgrid(xs, xs, indexing="xy")
    plane = torch.stack([grid_x, grid_y, torch.zeros_like(grid_x)], dim=-1).reshape(num_points, 3)
    depth = 0.8 + 0.4 * torch.rand(batch_size, 1, 1, generator=generator)
    velocity = 0.02 * torch.randn(batch_size, 1, 3, generator=generator)
    steps = torch.arange(flow_steps, dtype=torch.float32).view(1, flow_steps, 1, 1)
    points = plane.view(1, 1, num_points, 3) + torch.tensor([0.0, 0.0, 1.0]) * depth.unsqueeze(1)
    points3d = points + steps * velocity.unsqueeze(1)
    valid = torch.rand(batch_size, flow_steps, num_points, generator=generator) > invisible_fraction
    valid[:, 0] = True
    points3d = points3d * valid.unsqueeze(-1)
    text_ids = torch.randint(0, num_instructions, (batch_size,), generator=generator)
    instruction_table = torch.randn(num_instructions, text_dim, generator=generator)
    return Batch(
        frames=torch.randn(batch_size, 3, 3, image_size, image_size, generator=generator),
        points3d=points3d.float(),
        points3d_valid=valid,
        text_embedding=instruction_table[text_ids],
        text_ids=text_ids,
        clip_ids=torch.arange(batch_size),
        instructions=[f"instruction number {int(i)}" for i in text_ids],
    )
