"""Applying an OOD shift to an updated ``mjvScene``: render-only edits after ``update_scene``.

Nothing here writes to ``MjModel`` or ``MjData``; each render rebuilds the scene from the simulator, so a
frame rendered without a shift is bit-identical to one rendered before any shift was used. Added geoms
(distractors, occluder) are ordinary scene geoms, so RGB, depth and segmentation all see them; they carry
``objid = RENDER_ONLY_OBJID`` so segmentation can tell them apart.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dynaflip.geometry import project

from .backend import import_mujoco
from .camera import axis_rotation, closest_point_on_axis, perturb_camera_pose
from .shifts import Shift

RENDER_ONLY_OBJID = -2
WORKSPACE_CENTRE = np.array([0.0, 0.6, 0.05])  # Meta-World's table workspace (world metres)
TABLE_TOP_Z = 0.0  # the table's top surface in Meta-World v3 scenes
TABLE_BODY = "tablelink"
TABLE_TEXTURE_MATERIALS = {"wood": "table_wood", "metal": "wall_metal"}  # cube textures: they map onto boxes
# The occluder may cover at most this fraction of a target's projected box (the task's object, its goal), and
# never its centre: the task stays solvable from the image, and the shift measures robustness, not a coin
# flip on visibility.
OCCLUDER_MAX_TARGET_COVER = 0.5
OCCLUDER_GRID = 21  # candidate centres per image axis when the sampled one would hide a target
OCCLUDER_CENTRE_MARGIN = 1 / 64  # of the image: a target centre this close to the plate counts as hidden
_GEOM_TYPES = {
    "box": "mjGEOM_BOX",
    "sphere": "mjGEOM_SPHERE",
    "cylinder": "mjGEOM_CYLINDER",
    "capsule": "mjGEOM_CAPSULE",
}


def shifted_camera_pose(shift: Shift | None, cam_to_world: np.ndarray) -> np.ndarray:
    """The camera pose to render from: moved by a 'camera' shift, else ``cam_to_world`` unchanged."""
    if shift is None or shift.name != "camera":
        return cam_to_world
    params = shift.params
    if shift.severity == 0.0:  # exactly the unshifted pose (a zero perturbation would still round)
        return cam_to_world
    return perturb_camera_pose(
        cam_to_world,
        pivot=closest_point_on_axis(cam_to_world, WORKSPACE_CENTRE),
        azimuth_degrees=params["azimuth_degrees"],
        elevation_degrees=params["elevation_degrees"],
        roll_degrees=params["roll_degrees"],
        distance_scale=params["distance_scale"],
    )


def apply_scene_shift(
    scene: Any,
    model: Any,
    shift: Shift | None,
    *,
    cam_to_world: np.ndarray,
    intrinsics: np.ndarray,
    image_size: tuple[int, int],
    obstacles: np.ndarray | None = None,
    targets: list[np.ndarray] | None = None,
) -> None:
    """Edit an updated scene for ``shift`` (lighting, table, distractors, occlusion; camera is done by
    :func:`shifted_camera_pose`). ``image_size`` is (height, width); ``obstacles`` (M, 3) rows of
    (x, y, radius) on the table that distractors keep clear of; ``targets`` (K, 3) world points per target
    (see :func:`occluder_rectangle`) that the occluder must leave visible."""
    if shift is None or shift.name == "camera" or shift.severity == 0.0:  # severity 0: the unshifted scene
        return
    if shift.name == "lighting":
        edit_lights(scene, shift.params)
    elif shift.name == "table":
        edit_table(scene, model, shift.params)
    elif shift.name == "distractors":
        for placement in place_distractors(shift.params, obstacles=obstacles):
            add_distractor(scene, placement)
    elif shift.name == "occlusion":
        add_occluder(
            scene,
            shift.params,
            cam_to_world=cam_to_world,
            intrinsics=intrinsics,
            image_size=image_size,
            targets=targets,
        )
    else:
        raise ValueError(f"shift: no scene edit for {shift.name!r}")


def edit_lights(scene: Any, params: dict[str, Any]) -> None:
    """Scale and tint every scene light (the headlight too) and turn the scene lights' directions."""
    gain = params["intensity_scale"] * np.asarray(params["tint"], dtype=np.float32)
    axis_angle = math.radians(params["direction_axis_degrees"])
    turn = axis_rotation(np.array([math.cos(axis_angle), math.sin(axis_angle), 0.0]), params["direction_degrees"])
    for index in range(scene.nlight):
        light = scene.lights[index]
        light.diffuse[:] = np.asarray(light.diffuse) * gain
        light.ambient[:] = np.asarray(light.ambient) * gain
        light.specular[:] = np.asarray(light.specular) * params["intensity_scale"]
        if not light.headlight:
            light.dir[:] = turn @ np.asarray(light.dir, dtype=np.float64)


def edit_table(scene: Any, model: Any, params: dict[str, Any]) -> None:
    """Recolour the table's geoms and swap their material (texture) for another of the scene's, or none.
    Below full severity (``blend`` < 1) the colour is blended from the scene's own and the material kept."""
    mujoco = import_mujoco()
    table = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, TABLE_BODY)
    material = TABLE_TEXTURE_MATERIALS.get(params["texture"])
    material_id = -1 if material is None else mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_MATERIAL, material)
    blend = float(params.get("blend", 1.0))
    for index in range(scene.ngeom):
        geom = scene.geoms[index]
        if geom.objtype == mujoco.mjtObj.mjOBJ_GEOM and model.geom_bodyid[geom.objid] == table:
            if blend >= 1.0:
                geom.rgba[:] = params["rgba"]
                geom.matid = material_id
            else:
                geom.rgba[:] = (1.0 - blend) * np.asarray(geom.rgba) + blend * np.asarray(params["rgba"])


def place_distractors(params: dict[str, Any], *, obstacles: np.ndarray | None) -> list[dict[str, Any]]:
    """The first ``count`` candidates that keep ``clearance`` from the obstacles and from each other."""
    obstacles = np.zeros((0, 3)) if obstacles is None else np.asarray(obstacles, dtype=np.float64).reshape(-1, 3)
    placed: list[dict[str, Any]] = []
    for candidate in params["candidates"]:
        if len(placed) == params["count"]:
            break
        xy, radius = np.asarray(candidate["xy"]), candidate["half_size"] * math.sqrt(2)
        blockers = [(row[:2], row[2]) for row in obstacles]
        blockers += [(np.asarray(other["xy"]), other["half_size"] * math.sqrt(2)) for other in placed]
        if all(np.linalg.norm(xy - centre) >= radius + extent + params["clearance"] for centre, extent in blockers):
            placed.append(candidate)
    return placed


def add_distractor(scene: Any, placement: dict[str, Any]) -> None:
    """One render-only primitive standing upright on the table."""
    half, shape = placement["half_size"], placement["shape"]
    if shape == "capsule":  # radius, half-length of the cylinder part
        size, half_height = [0.6 * half, half, 0.0], 1.6 * half
    else:  # box half-extents; sphere radius; cylinder radius and half-height
        size, half_height = [half, half, half], half
    position = [placement["xy"][0], placement["xy"][1], TABLE_TOP_Z + half_height]
    rotation = axis_rotation(np.array([0.0, 0.0, 1.0]), placement["yaw_degrees"])
    add_render_only_geom(scene, shape=shape, size=size, position=position, rotation=rotation, rgba=placement["rgba"])


def target_boxes(
    targets: list[np.ndarray] | None, *, cam_to_world: np.ndarray, intrinsics: np.ndarray
) -> list[tuple[float, float, float, float]]:
    """Pixel boxes (u0, v0, u1, v1) of the projections of each target's (K, 3) world points (e.g. the corners
    of its geoms' bounding boxes); targets behind the camera are left out."""
    boxes = []
    pose = np.asarray(cam_to_world, dtype=np.float64)
    for points in targets or []:
        world = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        camera_points = (world - pose[:3, 3]) @ pose[:3, :3]  # R^T (p - t), row-wise
        camera_points = camera_points[camera_points[:, 2] > 1e-6]
        if len(camera_points):
            pixels = project(camera_points, intrinsics)
            boxes.append((*pixels.min(axis=0), *pixels.max(axis=0)))
    return boxes


def covered_fraction(
    rectangle: tuple[float, float, float, float],
    box: tuple[float, float, float, float],
    *,
    centre: bool = True,
    margin: float = 0.0,
) -> float:
    """How much of ``box`` (u0, v0, u1, v1) ``rectangle`` (same form) hides: the fraction of the box's area
    inside it, or 1 when ``centre`` and the rectangle, grown by ``margin``, contains the box's centre."""
    centre_u, centre_v = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    inside_u = rectangle[0] - margin <= centre_u <= rectangle[2] + margin
    if centre and inside_u and rectangle[1] - margin <= centre_v <= rectangle[3] + margin:
        return 1.0
    width = max(0.0, min(rectangle[2], box[2]) - max(rectangle[0], box[0]))
    height = max(0.0, min(rectangle[3], box[3]) - max(rectangle[1], box[1]))
    area = (box[2] - box[0]) * (box[3] - box[1])
    return width * height / area if area > 0 else 0.0


def occluder_rectangle(
    params: dict[str, Any],
    *,
    image_size: tuple[int, int],
    boxes: list[tuple[float, float, float, float]] = (),
    max_cover: float = OCCLUDER_MAX_TARGET_COVER,
) -> tuple[float, float, float, float]:
    """The occluder's image rectangle (u0, v0, u1, v1) in pixels (pixel centres at integers, edges at -0.5);
    ``boxes`` are the targets' pixel boxes (:func:`target_boxes`).

    Its size is ``area_fraction`` of the frame at ``aspect``; it sits at ``centre`` (fractions of the free
    range) unless that hides a target box's centre or more than ``max_cover`` of its area; then at the
    nearest candidate centre on an ``OCCLUDER_GRID`` grid that hides none of them so; failing that (two
    targets far apart under a large plate), the nearest that hides at most ``max_cover`` of each box's area
    (centres aside); failing that, the one whose worst-hidden box is hidden least. The choice is made in
    image fractions, so it is the same at every resolution, and deterministic: every encoder sees the same
    plate."""
    height, width = image_size
    # In fractions of the image: (u + 0.5) / width, (v + 0.5) / height.
    box_height = min(math.sqrt(params["area_fraction"] * width / (height * params["aspect"])), 0.9)
    box_width = min(params["aspect"] * box_height * height / width, 0.9)
    scaled = [((b[0] + 0.5) / width, (b[1] + 0.5) / height, (b[2] + 0.5) / width, (b[3] + 0.5) / height) for b in boxes]

    def rectangle(fx: float, fy: float) -> tuple[float, float, float, float]:
        u0, v0 = fx * (1.0 - box_width), fy * (1.0 - box_height)
        return (u0, v0, u0 + box_width, v0 + box_height)

    def worst(candidate: tuple[float, float, float, float], *, centre: bool = True) -> float:
        return max(
            (covered_fraction(candidate, box, centre=centre, margin=OCCLUDER_CENTRE_MARGIN) for box in scaled),
            default=0.0,
        )

    def in_pixels(candidate: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        u0, v0, u1, v1 = candidate
        return (u0 * width - 0.5, v0 * height - 0.5, u1 * width - 0.5, v1 * height - 0.5)

    preferred = (float(params["centre"][0]), float(params["centre"][1]))
    if worst(rectangle(*preferred)) <= max_cover:
        return in_pixels(rectangle(*preferred))
    grid = np.linspace(0.0, 1.0, OCCLUDER_GRID)
    order = sorted(
        ((float(fx), float(fy)) for fx in grid for fy in grid),
        key=lambda c: ((c[0] - preferred[0]) ** 2 + (c[1] - preferred[1]) ** 2, c),
    )
    candidates = [rectangle(*c) for c in order]
    for centre in (True, False):
        for candidate in candidates:
            if worst(candidate, centre=centre) <= max_cover:
                return in_pixels(candidate)
    return in_pixels(min(candidates, key=lambda candidate: worst(candidate, centre=False)))


def add_occluder(
    scene: Any,
    params: dict[str, Any],
    *,
    cam_to_world: np.ndarray,
    intrinsics: np.ndarray,
    image_size: tuple[int, int],
    targets: list[np.ndarray] | None = None,
) -> None:
    """A thin plate facing the camera whose image is the axis-aligned rectangle of
    :func:`occluder_rectangle` (``area_fraction`` of the frame, kept off the ``targets``), ``distance``
    metres from the camera."""
    boxes = target_boxes(targets, cam_to_world=cam_to_world, intrinsics=intrinsics)
    u0, v0, u1, v1 = occluder_rectangle(params, image_size=image_size, boxes=boxes)
    box_width, box_height = u1 - u0, v1 - v0
    u, v = (u0 + u1) / 2, (v0 + v1) / 2
    fx, fy, cx, cy = intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2], intrinsics[1, 2]
    depth = params["distance"]
    centre_camera = np.array([(u - cx) * depth / fx, (v - cy) * depth / fy, depth])
    pose = np.asarray(cam_to_world, dtype=np.float64)
    size = [box_width / 2 * depth / fx, box_height / 2 * depth / fy, 0.002]
    grey = params["grey"]
    add_render_only_geom(
        scene,
        shape="box",
        size=size,
        position=pose[:3, :3] @ centre_camera + pose[:3, 3],
        rotation=pose[:3, :3],
        rgba=[grey, grey, grey, 1.0],
    )


def add_render_only_geom(scene: Any, *, shape: str, size: Any, position: Any, rotation: np.ndarray, rgba: Any) -> None:
    """Append a geom to the scene (not the model), tagged as render-only for segmentation."""
    mujoco = import_mujoco()
    if scene.ngeom >= scene.maxgeom:
        raise RuntimeError(f"scene: no room for a render-only geom (maxgeom={scene.maxgeom})")
    geom = scene.geoms[scene.ngeom]
    mujoco.mjv_initGeom(
        geom,
        getattr(mujoco.mjtGeom, _GEOM_TYPES[shape]),
        np.asarray(size, dtype=np.float64),
        np.asarray(position, dtype=np.float64),
        np.asarray(rotation, dtype=np.float64).reshape(9),
        np.asarray(rgba, dtype=np.float32),
    )
    geom.objtype = mujoco.mjtObj.mjOBJ_UNKNOWN
    geom.objid = RENDER_ONLY_OBJID
    geom.category = mujoco.mjtCatBit.mjCAT_DECOR
    geom.segid = scene.ngeom
    geom.specular, geom.shininess, geom.reflectance, geom.emission = 0.1, 0.1, 0.0, 0.0
    scene.ngeom += 1
