"""Pictures of what was mined: the tracks on the reference frame and a 3D view of the flow, one PNG per
sample plus an overview sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynaflip.schema import Triplet


def draw_sample(triplet: Triplet, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(12, 4.2))
    _draw_tracks(figure.add_subplot(1, 3, 1), triplet)
    axis = figure.add_subplot(1, 3, 2)
    axis.imshow(triplet.frames[-1])
    axis.set_title(f"I_t+H (frame {int(triplet.frame_indices[-1])})", fontsize=9)
    axis.axis("off")
    _draw_flow3d(figure.add_subplot(1, 3, 3, projection="3d"), triplet)
    figure.suptitle(f'{triplet.key}: "{triplet.instruction}"\n{describe(triplet)}', fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def describe(triplet: Triplet) -> str:
    """One line on how the sample was made: tracker, depth kind and what was done about camera motion."""
    tracker = str(triplet.extractor.get("tracker", "unknown tracker")).split("/")[0]
    method = (triplet.ego_motion or {}).get("method")
    camera = {
        None: "camera motion: not recorded (older extraction)",
        "none": "camera motion: not removed",
        "recorded-poses": "camera motion removed with recorded poses",
        "pnp-ransac": "camera motion estimated (PnP on the static background) and removed",
        "homography-ransac": "camera motion estimated (homography on the static background) and removed",
    }.get(method, f"camera motion: {method}")
    return f"tracker {tracker}, {triplet.depth_kind} depth, {camera}"


def _draw_tracks(axis, triplet: Triplet) -> None:
    import matplotlib.pyplot as plt

    axis.imshow(triplet.frames[0])
    steps = triplet.tracks2d.shape[0]
    colours = plt.cm.viridis(np.linspace(0, 1, steps))
    for point in range(triplet.tracks2d.shape[1]):
        visible = triplet.visibility[:, point]
        track = triplet.tracks2d[visible, point]
        axis.plot(track[:, 0], track[:, 1], color="white", linewidth=0.6, alpha=0.7)
        axis.scatter(track[:, 0], track[:, 1], c=colours[visible], s=3)
    hidden = ~triplet.visibility[-1]
    axis.scatter(*triplet.tracks2d[0, hidden].T, marker="x", color="red", s=8, label="lost")
    axis.set_title(f"I_t (frame {int(triplet.frame_indices[0])}): {steps}-step tracks", fontsize=9)
    axis.axis("off")


def _draw_flow3d(axis, triplet: Triplet) -> None:
    valid = triplet.points3d_valid[0] & triplet.points3d_valid[-1]
    start, end = triplet.points3d[0, valid], triplet.points3d[-1, valid]
    if len(start):
        # Camera frame (x right, y down, z forward), drawn with z as depth and -y up.
        axis.scatter(start[:, 0], start[:, 2], -start[:, 1], c=start[:, 2], cmap="plasma", s=4)
        motion = end - start
        axis.quiver(
            start[:, 0],
            start[:, 2],
            -start[:, 1],
            motion[:, 0],
            motion[:, 2],
            -motion[:, 1],
            color="black",
            linewidth=0.6,
            arrow_length_ratio=0.2,
        )
    axis.set_xlabel("x")
    axis.set_ylabel("z (depth)")
    axis.set_zlabel("-y")
    magnitude = np.linalg.norm(end - start, axis=-1) if len(start) else np.zeros(1)
    unit = "m" if triplet.depth_kind == "metric" else "units"
    axis.set_title(f"3D flow t -> t+H ({triplet.depth_kind} depth), max {magnitude.max():.3f} {unit}", fontsize=9)


def visualize_shards(shard_paths: list[str], out_dir: Path, *, count: int = 6) -> list[Path]:
    """Draw the first ``count`` samples of the shards; returns the PNG paths."""
    from dynaflip.remote_io import iter_tar_samples
    from dynaflip.schema import decode_sample

    written = []
    for index, sample in enumerate(iter_tar_samples(shard_paths)):  # local paths or URLs, streamed
        if index >= count:
            break
        triplet = decode_sample(sample, origin=sample.get("__url__"))
        path = out_dir / f"{index:02d}-{triplet.key}.png"
        draw_sample(triplet, path)
        written.append(path)
    return written
