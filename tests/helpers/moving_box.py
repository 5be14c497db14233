"""A MuJoCo scene with known motion: a noise-textured box moving on a known trajectory over a textured
floor, seen by a camera with known intrinsics, static or on a known (handheld-like) trajectory. Renders RGB +
metric depth to the plain-folder video format, and gives the exact 3D positions of any reference pixel at later
frames, in the reference camera's frame, by ray casting (mj_ray), independently of the rendered depth the
extractor uses.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynaflip.sim.video import write_mp4

SIZE = 224
FPS = 20
FOVY = 50.0
CAMERA_POS = np.array([0.0, -1.0, 0.75])
CAMERA_XYAXES = "1 0 0 0 0.6 0.8"

SCENE = """
<mujoco>
  <visual>
    <global offwidth="{size}" offheight="{size}"/>
    <quality shadowsize="0"/>
    <headlight ambient="0.5 0.5 0.5" diffuse="0.5 0.5 0.5" specular="0 0 0"/>
  </visual>
  <asset>
    <texture name="noise" type="cube" file="{noise}"/>
    <material name="noise" texture="noise" specular="0" shininess="0"/>
    <texture name="floor" type="2d" file="{floor}"/>
    <material name="floor" texture="floor" texrepeat="2 2" specular="0" shininess="0"/>
  </asset>
  <worldbody>
    <light pos="0 -1 2" dir="0 0.5 -1" diffuse="0.4 0.4 0.4" castshadow="false"/>
    <geom name="floor" type="plane" size="1.5 1.5 0.1" material="floor"/>
    <body name="box" mocap="true" pos="0 0 0.12">
      <geom name="box" type="box" size="{box_size}" material="noise"/>
    </body>
    <camera name="cam" pos="{camera_pos}" xyaxes="{xyaxes}" fovy="{fovy}"/>
  </worldbody>
</mujoco>
"""


def _noise_png(path: Path, *, seed: int, size: int = 256, blur: int = 3) -> None:
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, size=(size, size, 3)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), blur)
    noise = (noise - noise.min()) / (noise.max() - noise.min()) * 255
    cv2.imwrite(str(path), noise.astype(np.uint8))


@dataclass
class BoxTrajectory:
    """Box centre and yaw as functions of the frame index."""

    start: tuple[float, float, float] = (-0.08, 0.05, 0.12)
    velocity: tuple[float, float, float] = (0.16, -0.10, 0.0)  # metres per second
    yaw_rate: float = 25.0  # degrees per second
    roll_rate: float = 0.0  # degrees per second about the box's own x axis (tumbling: its faces turn away)

    def pose(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        t = frame / FPS
        position = np.asarray(self.start) + t * np.asarray(self.velocity)
        yaw = math.radians(self.yaw_rate * t)
        rotation = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
        if self.roll_rate:
            rotation = rotation @ _axis_rotation((1.0, 0.0, 0.0), math.radians(self.roll_rate * t))
        return position, rotation


@dataclass
class CameraTrajectory:
    """A handheld-like camera: the scene camera's pose, plus a steady pan and tilt and a sinusoidal shake in
    rotation (about all three axes) and position. All zero: the static camera of the scene."""

    pan_rate: float = 0.0  # degrees per second about the world z axis (turning left/right)
    tilt_rate: float = 0.0  # degrees per second about the camera's x axis
    shake_degrees: float = 0.0  # amplitude of the rotational shake
    shake_metres: float = 0.0  # amplitude of the positional shake
    shake_hz: float = 1.5
    drift: tuple[float, float, float] = (0.0, 0.0, 0.0)  # metres per second

    def cam_to_world(self, frame: int, base: np.ndarray) -> np.ndarray:
        """OpenCV pose of the camera at ``frame``, given the scene camera's pose ``base``."""
        t = frame / FPS
        phase = 2 * math.pi * self.shake_hz * t
        shake = np.radians(self.shake_degrees) * np.array(
            [math.sin(phase), math.sin(1.3 * phase + 1), math.sin(0.7 * phase + 2)]
        )
        pan = _axis_rotation((0.0, 0.0, 1.0), math.radians(self.pan_rate * t))
        tilt = _axis_rotation((1.0, 0.0, 0.0), math.radians(self.tilt_rate * t) + shake[0])
        wobble = _axis_rotation((0.0, 1.0, 0.0), shake[1]) @ _axis_rotation((0.0, 0.0, 1.0), shake[2])
        pose = np.eye(4)
        pose[:3, :3] = pan @ base[:3, :3] @ tilt @ wobble  # pan in the world, tilt and shake in the camera
        offset = self.shake_metres * np.array(
            [math.sin(0.9 * phase), math.sin(1.1 * phase + 0.5), math.sin(phase + 2.5)]
        )
        pose[:3, 3] = base[:3, 3] + t * np.asarray(self.drift) + offset
        return pose


def _axis_rotation(axis: tuple[float, float, float], angle: float) -> np.ndarray:
    axis_vector = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    skew = np.array(
        [
            [0, -axis_vector[2], axis_vector[1]],
            [axis_vector[2], 0, -axis_vector[0]],
            [-axis_vector[1], axis_vector[0], 0],
        ]
    )
    return np.eye(3) + math.sin(angle) * skew + (1 - math.cos(angle)) * skew @ skew


class MovingBoxScene:
    def __init__(
        self,
        folder: Path,
        *,
        trajectory: BoxTrajectory | None = None,
        camera: CameraTrajectory | None = None,
        box_size: tuple[float, float, float] = (0.13, 0.13, 0.12),
    ) -> None:
        """``box_size``: the box's half extents in metres (a larger box makes an object filling the view)."""
        import mujoco

        folder.mkdir(parents=True, exist_ok=True)
        _noise_png(folder / "noise.png", seed=1, blur=4)
        _noise_png(folder / "floor.png", seed=2, blur=3)
        xml = SCENE.format(
            size=SIZE,
            noise=folder / "noise.png",
            floor=folder / "floor.png",
            camera_pos=" ".join(map(str, CAMERA_POS)),
            xyaxes=CAMERA_XYAXES,
            fovy=FOVY,
            box_size=" ".join(map(str, box_size)),
        )
        self.model = mujoco.MjModel.from_xml_string(xml)
        self.data = mujoco.MjData(self.model)
        self.trajectory = trajectory or BoxTrajectory()
        self.camera_trajectory = camera or CameraTrajectory()
        self.box_geom = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, "box")
        self.camera = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, "cam")
        focal = 0.5 * SIZE / math.tan(math.radians(FOVY) / 2)
        self.intrinsics = np.array([[focal, 0, (SIZE - 1) / 2], [0, focal, (SIZE - 1) / 2], [0, 0, 1]])
        mujoco.mj_forward(self.model, self.data)
        self.base_pose = self.cam_to_world()

    def set_frame(self, frame: int) -> None:
        import mujoco

        position, rotation = self.trajectory.pose(frame)
        quaternion = np.zeros(4)
        mujoco.mju_mat2Quat(quaternion, rotation.ravel())
        self.data.mocap_pos[0] = position
        self.data.mocap_quat[0] = quaternion
        # The camera hangs from the world body, so its model pose is its world pose (MuJoCo axes: y up, z back).
        pose = self.camera_trajectory.cam_to_world(frame, self.base_pose)
        mujoco.mju_mat2Quat(quaternion, (pose[:3, :3] @ np.diag([1.0, -1.0, -1.0])).ravel())
        self.model.cam_pos[self.camera] = pose[:3, 3]
        self.model.cam_quat[self.camera] = quaternion
        mujoco.mj_forward(self.model, self.data)

    def camera_pose(self, frame: int) -> np.ndarray:
        """The true OpenCV ``cam_to_world`` at ``frame``."""
        self.set_frame(frame)
        return self.cam_to_world()

    def cam_to_world(self) -> np.ndarray:
        """OpenCV-convention pose: MuJoCo cameras look along -z with y up."""
        pose = np.eye(4)
        pose[:3, :3] = self.data.cam_xmat[self.camera].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
        pose[:3, 3] = self.data.cam_xpos[self.camera]
        return pose

    def render(self, frames: int) -> tuple[np.ndarray, np.ndarray]:
        import mujoco

        renderer = mujoco.Renderer(self.model, SIZE, SIZE)
        rgb, depth = [], []
        for frame in range(frames):
            self.set_frame(frame)
            renderer.update_scene(self.data, camera=self.camera)
            rgb.append(renderer.render().copy())
            renderer.enable_depth_rendering()
            depth.append(renderer.render().copy())
            renderer.disable_depth_rendering()
        renderer.close()
        depth = np.stack(depth).astype(np.float32)
        # MuJoCo reports the far clipping distance where a ray hits nothing: there is no surface there.
        far = self.model.vis.map.zfar * self.model.stat.extent
        depth[depth >= 0.999 * far] = 0.0
        return np.stack(rgb), depth

    def true_points(
        self, pixels: np.ndarray, *, reference: int, frames: list[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact positions (len(frames), N, 3) in the reference camera frame of the surface points seen at
        ``pixels`` (N, 2) in frame ``reference``, whether each point is on the moving box, and whether the ray
        hit anything at all (pixels of the empty background have no true 3D point)."""
        import mujoco

        self.set_frame(reference)
        pose = self.cam_to_world()
        origin = pose[:3, 3]
        rays = (
            np.stack(
                [
                    (pixels[:, 0] - self.intrinsics[0, 2]) / self.intrinsics[0, 0],
                    (pixels[:, 1] - self.intrinsics[1, 2]) / self.intrinsics[1, 1],
                    np.ones(len(pixels)),
                ],
                axis=-1,
            )
            @ pose[:3, :3].T
        )
        world, on_box = np.zeros((len(pixels), 3)), np.zeros(len(pixels), dtype=bool)
        hit = np.zeros(len(pixels), dtype=bool)
        geom = np.zeros(1, dtype=np.int32)
        for index, ray in enumerate(rays):
            distance = mujoco.mj_ray(self.model, self.data, origin, ray, None, 1, -1, geom)
            world[index] = origin + distance * ray
            on_box[index] = geom[0] == self.box_geom
            hit[index] = distance >= 0
        position0, rotation0 = self.trajectory.pose(reference)
        in_box = (world - position0) @ rotation0  # box-frame coordinates
        out = np.zeros((len(frames), len(pixels), 3))
        world_to_camera = np.linalg.inv(pose)
        for step, frame in enumerate(frames):
            position, rotation = self.trajectory.pose(frame)
            moved = np.where(on_box[:, None], in_box @ rotation.T + position, world)
            out[step] = moved @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
        return out, on_box, hit


def write_moving_box_video(
    folder: Path, name: str, *, frames: int = 40, scene: MovingBoxScene | None = None, record_poses: bool = True
) -> MovingBoxScene:
    """NAME.mp4 + NAME.json + NAME.depth.npz of the scene, in the plain-folder format; without
    ``record_poses`` the depth file has no ``cam_to_world`` (a source that does not know its camera motion)."""
    scene = scene or MovingBoxScene(folder / "assets")
    rgb, depth = scene.render(frames)
    write_mp4(rgb, folder / f"{name}.mp4", fps=FPS, crf=16)
    if record_poses:
        poses = np.stack([scene.camera_pose(frame) for frame in range(frames)])
        np.savez(folder / f"{name}.depth.npz", depth=depth, cam_to_world=poses)
    else:
        np.savez(folder / f"{name}.depth.npz", depth=depth)
    (folder / f"{name}.json").write_text(
        json.dumps(
            {"instruction": "move the box to the right", "intrinsics": scene.intrinsics.tolist(), "embodiment": "sim"}
        )
    )
    return scene


def flow_errors(scene: MovingBoxScene, triplet, depth: np.ndarray) -> dict[str, np.ndarray]:
    """3D end-point errors (metres) of a triplet's valid points against the exact motion, steps 1..K-1, and
    their stored 3D flow (from step 0).

    ``truly_visible``: the true point is in view at that step (its projection's rendered depth matches its
    own depth); where it is hidden (the box passed over it) the tracker should have lost it, so those points
    measure visibility, not accuracy.
    """
    from dynaflip.geometry import bilinear_depth, project, relative_transform, transform_points

    frames = [int(i) for i in triplet.flow_frame_indices]
    truth, on_box, hit = scene.true_points(triplet.tracks2d[0].astype(np.float64), reference=frames[0], frames=frames)
    reference_pose = scene.camera_pose(frames[0])
    errors, visible, box, flow = [], [], [], []
    for step in range(1, len(frames)):
        # The true point in the camera of this step (the camera may have moved since the reference).
        in_camera = transform_points(relative_transform(scene.camera_pose(frames[step]), reference_pose), truth[step])
        uv = project(in_camera, triplet.intrinsics)
        rendered, ok = bilinear_depth(depth[frames[step]], uv, max_relative_spread=None)
        truly_visible = ok & (np.abs(rendered - in_camera[:, 2]) < 0.01)
        use = triplet.points3d_valid[step] & hit
        errors.append(np.linalg.norm(triplet.points3d[step] - truth[step], axis=-1)[use])
        flow.append(np.linalg.norm(triplet.points3d[step] - triplet.points3d[0], axis=-1)[use])
        visible.append(truly_visible[use])
        box.append(on_box[use])
    return {
        "error": np.concatenate(errors),
        "flow": np.concatenate(flow),
        "truly_visible": np.concatenate(visible),
        "on_box": np.concatenate(box),
    }


def fast_box_trajectories(speed: float = 1.0) -> list[BoxTrajectory]:
    """Four fast, tumbling box motions (at ``speed`` 1: 0.45-0.75 m/s, 60-150 degrees/s of yaw, up to 150 degrees/s
    of roll, about 1.2 m from the camera), for measuring how long a tracker keeps points on a moving object."""
    base = [
        ((-0.35, 0.1, 0.12), (0.7, -0.25, 0.0), 150.0, 0.0),
        ((0.35, -0.1, 0.12), (-0.7, 0.2, 0.0), -120.0, 0.0),
        ((-0.2, -0.2, 0.2), (0.4, 0.4, 0.0), 90.0, 120.0),
        ((0.2, 0.2, 0.2), (-0.5, -0.3, 0.0), 60.0, -150.0),
    ]
    return [
        BoxTrajectory(
            start=(start[0] * speed, start[1] * speed, start[2]),
            velocity=tuple(v * speed for v in velocity),
            yaw_rate=yaw * speed,
            roll_rate=roll * speed,
        )
        for start, velocity, yaw, roll in base
    ]


def object_retention(
    scene: MovingBoxScene, rgb: np.ndarray, depth: np.ndarray, tracker, *, grid_size: int = 40
) -> dict[str, np.ndarray | int]:
    """Track a grid from the first to the last frame of ``rgb`` (T, H, W, 3) with ``tracker`` and score the
    points on the box that are truly in view at the last frame: how many the tracker still holds (``kept`` of
    ``total``), their 2D error (pixels) and their 3D error (metres; lifted with the rendered depth, against
    the exact motion from ray casting), and the seconds spent tracking."""
    from dynaflip.geometry import bilinear_depth, lift_tracks, project, query_grid

    last = len(rgb) - 1
    queries = query_grid(grid_size=grid_size, width=rgb.shape[2], height=rgb.shape[1])
    truth, on_box, _ = scene.true_points(queries.astype(np.float64), reference=0, frames=[0, last])
    truth_uv = project(truth[1], scene.intrinsics)  # the camera is static in these scenes
    rendered, inside = bilinear_depth(depth[last], truth_uv, max_relative_spread=None)
    in_view = inside & (np.abs(rendered - truth[1, :, 2]) < 0.01)
    clock = time.perf_counter()
    result = tracker.track(rgb, queries)
    seconds = time.perf_counter() - clock
    steps = [0, last]
    points3d, valid = lift_tracks(result.tracks[steps], result.visibility[steps], depth[steps], scene.intrinsics)
    scored = on_box & in_view & valid[0]
    kept = scored & valid[1]
    return {
        "total": int(scored.sum()),
        "kept": int(kept.sum()),
        "error2d": np.linalg.norm(result.tracks[last] - truth_uv, axis=-1)[kept],
        "error3d": np.linalg.norm(points3d[1] - truth[1], axis=-1)[kept],
        "seconds": seconds,
    }
