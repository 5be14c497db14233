"""A valid triplet built from a known rigid motion, for schema and shard tests."""

from __future__ import annotations

import numpy as np

from dynaflip.geometry import intrinsics_from_fov, project, query_grid, unproject
from dynaflip.schema import Triplet


def make_triplet(
    *, key: str = "sample-000", grid_size: int = 4, steps: int = 3, size: int = 32, seed: int = 0
) -> Triplet:
    rng = np.random.default_rng(seed)
    intrinsics = intrinsics_from_fov(fovy_degrees=60.0, width=size, height=size)
    query = query_grid(grid_size=grid_size, width=size, height=size)
    reference = unproject(query, np.full(len(query), 1.5), intrinsics)
    shifts = np.arange(steps)[:, None, None] * np.array([0.01, -0.005, 0.02])
    points = (reference[None] + shifts).astype(np.float32)
    tracks = project(points, intrinsics).astype(np.float32)
    visibility = np.ones((steps, grid_size**2), dtype=bool)
    visibility[-1, :2] = False
    valid = visibility.copy()
    points[~valid] = 0
    frame_indices = np.array([10, 12, 14, 16, 18], dtype=np.int64)
    return Triplet(
        key=key,
        source="unit-test",
        video_id="video-0",
        embodiment="sim",
        instruction="push the block to the left",
        frames=[rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in range(5)],
        frame_indices=frame_indices,
        timestamps=frame_indices / 30.0,
        flow_frame_indices=np.linspace(10, 18, steps).round().astype(np.int64),
        tracks2d=tracks,
        visibility=visibility,
        points3d=points,
        points3d_valid=valid,
        intrinsics=intrinsics,
        depth_kind="metric",
        grid_size=grid_size,
        extractor={"name": "unit-test", "version": "0"},
        text_embedding=rng.normal(size=8).astype(np.float32),
        text_encoder="test-encoder",
        extras={"ee_pos": [0.1, 0.2, 0.3]},
    )
