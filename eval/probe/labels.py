"""What a probe dataset stores per frame: label keys, their shapes and units (written into dataset.json)."""

from __future__ import annotations

from typing import Any

# Per-frame label arrays. The probes read the first six; the rest are stored for other read-outs
# (Dong et al. also regress joint angles and object orientation).
LABEL_KEYS = ("ee_pos", "gripper", "object_pos", "task", "flow", "flow_valid", "tcp_pos", "arm_joints", "object_quat")
# Per-frame bookkeeping: which episode (with the task index) and which control step a frame is.
INDEX_KEYS = ("episode_seed", "step")
# Labels defined on the camera's pixel grid and in its frame: under a shift that moves the camera they are
# recomputed from the shifted render (split entry "relabelled" in dataset.json); every other label is the
# same state's and stays as in test-id.
VIEW_LABELS = ("flow", "flow_valid")
VIEW_SHIFTS = ("camera",)


def label_definitions(*, grid_size: int, horizon: int, fps: float | None) -> dict[str, dict[str, Any]]:
    """Shape (per frame), dtype, units and meaning of every stored array, for the manifest."""
    g = grid_size
    seconds = f" ({horizon / fps:.3f} s)" if fps else ""
    return {
        "rgb": {"shape": ["S", "S", 3], "dtype": "uint8", "description": "rendered frame (upright), no shift"},
        "rgb-<shift>": {
            "shape": ["S", "S", 3],
            "dtype": "uint8",
            "description": "OOD splits: the frame re-rendered under that shift (stored as 'rgb' in test-<shift>.npz)",
        },
        "ee_pos": {"shape": [3], "dtype": "float32", "units": "m", "description": "hand body position, world frame"},
        "gripper": {"shape": [], "dtype": "float32", "units": "fraction", "description": "opening in [0, 1], 1 = open"},
        "object_pos": {
            "shape": [3],
            "dtype": "float32",
            "units": "m",
            "description": "main task object body position, world frame (the goal for reach tasks)",
        },
        "task": {"shape": [], "dtype": "int64", "description": "index into 'tasks'"},
        "flow": {
            "shape": [g, g, 3],
            "dtype": "float32",
            "units": "m",
            "description": f"displacement of the surface point under each query-grid pixel from step t to "
            f"t+{horizon}{seconds}, in the camera frame of step t (OpenCV axes); 0 where invalid. Under a shift "
            "that moves the camera (test-camera) it is recomputed for the shifted camera: its grid, its frame",
        },
        "flow_valid": {
            "shape": [g, g],
            "dtype": "bool",
            "description": "the query pixel shows a simulated body (not sky, not a render-only geom)",
        },
        "tcp_pos": {"shape": [3], "dtype": "float32", "units": "m", "description": "fingertip midpoint, world frame"},
        "arm_joints": {"shape": [7], "dtype": "float32", "units": "rad", "description": "arm joint angles"},
        "object_quat": {"shape": [4], "dtype": "float32", "description": "main object orientation, wxyz"},
        "episode_seed": {"shape": [], "dtype": "int64", "description": "Meta-World seed of the frame's episode"},
        "step": {"shape": [], "dtype": "int64", "description": "control step t of the frame within its episode"},
    }
