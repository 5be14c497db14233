"""Offscreen rendering of one model camera: RGB, metric depth and body segmentation, with OOD shifts.

Uses its own ``mujoco.Renderer`` (not ``env.render``) so that camera, scene edits and depth are under our
control; shadows and reflections are off (a 4096^2 shadow map makes rendering 3-5x slower).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from dynaflip.errors import DynaflipError

from .backend import import_mujoco, import_torch_first
from .camera import camera_id, camera_intrinsics, camera_to_world, is_upside_down, set_scene_camera
from .frame import BACKGROUND_ID, RENDER_ONLY_ID, Frame
from .scene_edits import RENDER_ONLY_OBJID, apply_scene_shift, shifted_camera_pose
from .shifts import Shift

DEFAULT_CAMERA = "corner"
DEFAULT_IMAGE_SIZE = (224, 224)


class RendererUnavailable(DynaflipError, RuntimeError):
    """No offscreen OpenGL context for MuJoCo; the message says which MUJOCO_GL to set."""


def check_image_size(image_size: Any) -> tuple[int, int]:
    """(height, width) as two positive ints; anything else raises a ValueError naming image_size."""
    try:
        height, width = (int(value) for value in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size: expected (height, width), got {image_size!r}") from None
    if height < 1 or width < 1 or (height, width) != tuple(image_size):
        raise ValueError(f"image_size: expected two positive integers (height, width), got {image_size!r}")
    return height, width


class SceneRenderer:
    """Renders ``Frame``s of one camera of a MuJoCo model.

    The model's render-only fields are adjusted once (shadows off, offscreen buffer large enough); physics
    fields are never touched. Call :meth:`close` (or use ``with``) to release the GL context.
    """

    def __init__(self, model: Any, *, camera: str = DEFAULT_CAMERA, image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE):
        import_torch_first()  # before the GL context exists: see backend.py
        mujoco = import_mujoco()
        self.height, self.width = check_image_size(image_size)
        self.model = model
        self.camera = camera
        self.camera_index = camera_id(model, camera)
        self.half_turn = is_upside_down(camera)
        self.intrinsics = camera_intrinsics(model, self.camera_index, width=self.width, height=self.height)
        model.light_castshadow[:] = 0
        model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), self.width)
        model.vis.global_.offheight = max(int(model.vis.global_.offheight), self.height)
        self._renderer = None
        try:
            self._renderer = mujoco.Renderer(model, self.height, self.width, max_geom=2000)
        except mujoco.FatalError as error:
            raise RendererUnavailable(
                f"renderer: no offscreen OpenGL context (MUJOCO_GL is {os.environ.get('MUJOCO_GL')!r} now, but it "
                "counts only when mujoco is first imported): set MUJOCO_GL=egl (or osmesa) in the environment, or "
                "import dynaflip.sim before mujoco"
            ) from error
        flags = self._renderer.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        self._objtype_geom = int(mujoco.mjtObj.mjOBJ_GEOM)
        self._objtype_site = int(mujoco.mjtObj.mjOBJ_SITE)
        self._far = float(model.vis.map.zfar * model.stat.extent)

    def render(
        self,
        data: Any,
        *,
        shift: Shift | None = None,
        obstacles: np.ndarray | None = None,
        targets: list[np.ndarray] | None = None,
        with_depth: bool = True,
        with_segmentation: bool = False,
    ) -> Frame:
        """Render the current ``data``. ``obstacles`` (M, 3) rows of (x, y, radius) that a distractor shift
        keeps clear of; ``targets`` (K, 3) world points per target that an occlusion shift leaves visible.
        Depth is 0 where no surface is hit (far plane); without ``with_depth`` it is None."""
        if self._renderer is None:
            raise RuntimeError("renderer: render() called after close()")
        renderer = self._renderer
        renderer.update_scene(data, camera=self.camera_index)
        pose = shifted_camera_pose(shift, camera_to_world(data, self.camera_index, half_turn=self.half_turn))
        set_scene_camera(renderer.scene, pose, half_turn=self.half_turn)
        apply_scene_shift(
            renderer.scene,
            self.model,
            shift,
            cam_to_world=pose,
            intrinsics=self.intrinsics,
            image_size=(self.height, self.width),
            obstacles=obstacles,
            targets=targets,
        )
        rgb = self._upright(renderer.render())
        depth = None
        if with_depth:
            renderer.enable_depth_rendering()
            try:
                depth = self._upright(renderer.render())
            finally:
                renderer.disable_depth_rendering()
            depth[depth >= self._far * (1 - 1e-4)] = 0.0
        segmentation = None
        if with_segmentation:
            renderer.enable_segmentation_rendering()
            try:
                segmentation = self._body_ids(self._upright(renderer.render()))
            finally:
                renderer.disable_segmentation_rendering()
        return Frame(
            rgb=rgb,
            depth=depth,
            intrinsics=self.intrinsics.copy(),
            cam_to_world=pose,
            camera=self.camera,
            segmentation=segmentation,
        )

    def _upright(self, image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(image[::-1, ::-1]) if self.half_turn else image

    def _body_ids(self, ids: np.ndarray) -> np.ndarray:
        """(H, W, 2) (object id, object type) -> (H, W) int32 body ids."""
        objid, objtype = ids[..., 0], ids[..., 1]
        body = np.full(objid.shape, BACKGROUND_ID, dtype=np.int32)
        geoms = objtype == self._objtype_geom
        body[geoms] = self.model.geom_bodyid[objid[geoms]]
        sites = objtype == self._objtype_site
        body[sites] = self.model.site_bodyid[objid[sites]]
        body[objid == RENDER_ONLY_OBJID] = RENDER_ONLY_ID
        return body

    def close(self) -> None:
        """Release the GL context (idempotent)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> SceneRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the GL library may already be gone
            pass
