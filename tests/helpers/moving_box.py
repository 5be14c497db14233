"""A MuJoCo scene with known motion: a noise-textured box moving on a known trajectory over a textured
floor, seen by a static camera with known intrinsics. Renders RGB + metric depth to the plain-folder video
format, and gives the exact 3D positions of any reference pixel at later frames by ray casting (mj_ray),
independently of the rendered depth the extractor uses.
"""

from __future__ import annotations

import json
import math
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
      <geom name="box" type="box" size="0.13 0.13 0.12" material="noise"/>
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

    def pose(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        t = frame / FPS
        position = np.asarray(self.start) + t * np.asarray(self.velocity)
        yaw = math.radians(self.yaw_rate * t)
        rotation = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
        return position, rotation


class MovingBoxScene:
    def __init__(self, folder: Path, *, trajectory: BoxTrajectory | None = None) -> None:
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
        )
        self.model = mujoco.MjModel.from_xml_string(xml)
        self.data = mujoco.MjData(self.model)
        self.trajectory = trajectory or BoxTrajectory()
        self.box_geom = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, "box")
        self.camera = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, "cam")
        focal = 0.5 * SIZE / math.tan(math.radians(FOVY) / 2)
        self.intrinsics = np.array([[focal, 0, (SIZE - 1) / 2], [0, focal, (SIZE - 1) / 2], [0, 0, 1]])

    def set_frame(self, frame: int) -> None:
        import mujoco

        position, rotation = self.trajectory.pose(frame)
        quaternion = np.zeros(4)
        mujoco.mju_mat2Quat(quaternion, rotation.ravel())
        self.data.mocap_pos[0] = position
        self.data.mocap_quat[0] = quaternion
        mujoco.mj_forward(self.model, self.data)

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
    folder: Path, name: str, *, frames: int = 40, scene: MovingBoxScene | None = None
) -> MovingBoxScene:
    """NAME.mp4 + NAME.json + NAME.depth.npz of the scene, in the plain-folder format."""
    scene = scene or MovingBoxScene(folder / "assets")
    rgb, depth = scene.render(frames)
    write_mp4(rgb, folder / f"{name}.mp4", fps=FPS, crf=16)
    poses = np.stack([scene.cam_to_world() for _ in range(frames)])
    np.savez(folder / f"{name}.depth.npz", depth=depth, cam_to_world=poses)
    (folder / f"{name}.json").write_text(
        json.dumps(
            {"instruction": "move the box to the right", "intrinsics": scene.intrinsics.tolist(), "embodiment": "sim"}
        )
    )
    return scene


def flow_errors(scene: MovingBoxScene, triplet, depth: np.ndarray) -> dict[str, np.ndarray]:
    """3D end-point errors (metres) of a triplet's valid points against the exact motion, steps 1..K-1.

    ``truly_visible``: the true point is in view at that step (its projection's rendered depth matches its
    own depth); where it is hidden (the box passed over it) the tracker should have lost it, so those points
    measure visibility, not accuracy.
    """
    from dynaflip.geometry import bilinear_depth, project

    frames = [int(i) for i in triplet.flow_frame_indices]
    truth, on_box, hit = scene.true_points(triplet.tracks2d[0].astype(np.float64), reference=frames[0], frames=frames)
    errors, visible, box = [], [], []
    for step in range(1, len(frames)):
        uv = project(truth[step], triplet.intrinsics)
        rendered, ok = bilinear_depth(depth[frames[step]], uv, max_relative_spread=None)
        truly_visible = ok & (np.abs(rendered - truth[step, :, 2]) < 0.01)
        use = triplet.points3d_valid[step] & hit
        errors.append(np.linalg.norm(triplet.points3d[step] - truth[step], axis=-1)[use])
        visible.append(truly_visible[use])
        box.append(on_box[use])
    return {"error": np.concatenate(errors), "truly_visible": np.concatenate(visible), "on_box": np.concatenate(box)}
