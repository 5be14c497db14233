"""The triplet schema: the contract between extraction and training.

One sample per (clip, reference frame t). On disk a sample is a group of webdataset members sharing a
key; in memory it is a :class:`Triplet`. The field table :data:`FIELDS` is the contract as data: the
validator, the encoder/decoder and the documentation all read it. :class:`SampleReader` is the one reader
of raw members (the validator, the training loader and the visualiser all go through it): a sample of a
``schema_version`` it does not know is refused with :class:`SchemaVersionError`, never guessed at.

Members of a sample (``KEY.<member>``):

=====================  ===========================================================================
``meta.json``          scalar fields (schema_version, source, video_id, embodiment, instruction, depth_kind,
                       ...; optional ``ego_motion``: how the camera's motion was removed)
``frame0.jpg`` ..      the F = 5 frames (R3M-style sampling of the window [t, t+H]); frame 0 is the
``frame4.jpg``         reference I_t and the last one is I_{t+H}
``frame_indices.npy``  (F,) int64 video frame index of each stored frame, strictly increasing
``timestamps.npy``     (F,) float64 seconds
``flow_frame_indices.npy`` (K,) int64 video frame index of each flow step; step 0 is the reference
``tracks2d.npy``       (K, N, 2) float32 pixel coordinates (u, v) in the stored frames' resolution
``visibility.npy``     (K, N) bool, the tracker's visibility; all True at step 0 (the query grid)
``points3d.npy``       (K, N, 3) float32 metres in the reference camera frame (OpenCV axes); zero where
                       ``points3d_valid`` is False
``points3d_valid.npy`` (K, N) bool, visible and with valid depth
``intrinsics.npy``     (3, 3) float32 of the stored frames' resolution
``text_embedding.npy`` optional (D,) float32 frozen text embedding of ``instruction``
=====================  ===========================================================================

Pixel convention: (u, v) = (column, row), integer coordinates at pixel centres.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dynaflip.errors import DynaflipError

SCHEMA_VERSION = 1
FRAMES_PER_SAMPLE = 5  # R3M-style: reference, three from the middle, I_{t+H}
DEFAULT_GRID_SIZE = 20
DEFAULT_FLOW_STEPS = 7
EMBODIMENTS = ("human", "robot", "sim")
DEPTH_KINDS = ("metric", "relative", "none")
# How the camera's own motion was removed from points3d (meta "ego_motion"; optional, absent in older shards).
EGO_MOTION_METHODS = ("recorded-poses", "pnp-ransac", "homography-ransac", "none")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-]+$")
IMAGE_FORMATS = ("jpg", "png")


class SchemaError(DynaflipError, ValueError):
    """A sample does not follow the triplet schema; the message names the field and what was expected."""


class SchemaVersionError(SchemaError):
    """A shard written under a ``schema_version`` this reader does not know: refused, never skipped."""


@dataclass
class Triplet:
    """One image-language-3D-flow sample, decoded."""

    key: str
    source: str
    video_id: str
    embodiment: str
    instruction: str
    frames: list[np.ndarray]
    frame_indices: np.ndarray
    timestamps: np.ndarray
    flow_frame_indices: np.ndarray
    tracks2d: np.ndarray
    visibility: np.ndarray
    points3d: np.ndarray
    points3d_valid: np.ndarray
    intrinsics: np.ndarray
    depth_kind: str
    grid_size: int
    extractor: dict[str, str]
    text_embedding: np.ndarray | None = None
    text_encoder: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    ego_motion: dict[str, Any] | None = None

    @property
    def num_steps(self) -> int:
        return int(self.tracks2d.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the stored frames."""
        height, width = self.frames[0].shape[:2]
        return int(height), int(width)


# ---- the field table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArrayField:
    """An array member: dtype and a shape written with symbols (F frames, K steps, N points)."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]
    description: str
    optional: bool = False


ARRAY_FIELDS: tuple[ArrayField, ...] = (
    ArrayField("frame_indices", "int64", ("F",), "video frame index of each stored frame"),
    ArrayField("timestamps", "float64", ("F",), "time of each stored frame in seconds"),
    ArrayField("flow_frame_indices", "int64", ("K",), "video frame index of each flow step"),
    ArrayField("tracks2d", "float32", ("K", "N", 2), "pixel coordinates (u, v) of the query grid"),
    ArrayField("visibility", "bool", ("K", "N"), "tracker visibility"),
    ArrayField("points3d", "float32", ("K", "N", 3), "metres in the reference camera frame"),
    ArrayField("points3d_valid", "bool", ("K", "N"), "visible and with valid depth"),
    ArrayField("intrinsics", "float32", (3, 3), "pinhole intrinsics of the stored frames"),
    ArrayField("text_embedding", "float32", ("D",), "frozen text embedding", optional=True),
)

META_FIELDS: dict[str, str] = {
    "source": "dataset or generator name",
    "video_id": "identifier of the source video",
    "embodiment": f"one of {EMBODIMENTS}",
    "instruction": "the clip's language instruction",
    "depth_kind": f"one of {DEPTH_KINDS}",
    "grid_size": "G, the query grid is G x G on the reference frame",
    "extractor": "dict with name, version, tracker and depth backend",
    "text_encoder": "name of the model behind text_embedding, or null",
    "extras": "free-form dict (e.g. simulator state)",
    "schema_version": f"the triplet schema's version; this reader knows {SCHEMA_VERSION}",
    "ego_motion": f"optional: how camera motion was removed, a dict with 'method' (one of {EGO_MOTION_METHODS}) "
    "and per-step statistics; absent in shards written before it existed",
}


def _fail(key: str, name: str, expected: str, got: str, origin: str | None) -> SchemaError:
    where = f"{origin}: " if origin else ""
    return SchemaError(f"{where}sample '{key}': field '{name}': expected {expected}, got {got}")


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:120]


def validate(sample: Triplet | Mapping[str, Any], *, origin: str | None = None) -> Triplet:
    """Check every field of ``sample`` and return it as a :class:`Triplet`.

    ``sample`` is a Triplet or a decoded webdataset dict (as produced by :func:`decode_sample`).
    Raises :class:`SchemaError` naming the first bad field, what was expected and what it got;
    ``origin`` (e.g. the shard path) is prefixed to the message.
    """
    triplet = sample if isinstance(sample, Triplet) else _from_members(sample, origin=origin)
    key = triplet.key if isinstance(triplet.key, str) else repr(triplet.key)

    def fail(name: str, expected: str, got: Any) -> SchemaError:
        return _fail(key, name, expected, got if isinstance(got, str) else _describe(got), origin)

    if not isinstance(triplet.key, str) or not KEY_PATTERN.match(triplet.key):
        raise fail("__key__", "a non-empty string of letters, digits, '_' or '-' (no dots)", repr(triplet.key))
    for name in ("source", "video_id", "instruction"):
        value = getattr(triplet, name)
        if not isinstance(value, str) or not value.strip():
            raise fail(name, "a non-empty string", repr(value))
    if triplet.embodiment not in EMBODIMENTS:
        raise fail("embodiment", f"one of {EMBODIMENTS}", repr(triplet.embodiment))
    if triplet.depth_kind not in DEPTH_KINDS:
        raise fail("depth_kind", f"one of {DEPTH_KINDS}", repr(triplet.depth_kind))
    if not isinstance(triplet.grid_size, int) or triplet.grid_size < 2:
        raise fail("grid_size", "an integer >= 2", triplet.grid_size)
    if not isinstance(triplet.extractor, dict) or not {"name", "version"} <= set(triplet.extractor):
        raise fail("extractor", "a dict with at least 'name' and 'version'", triplet.extractor)
    ego_motion = triplet.ego_motion
    if ego_motion is not None and (
        not isinstance(ego_motion, dict) or ego_motion.get("method") not in EGO_MOTION_METHODS
    ):
        raise fail("ego_motion", f"null or a dict with 'method' in {EGO_MOTION_METHODS}", ego_motion)

    frames = triplet.frames
    if not isinstance(frames, list) or len(frames) != FRAMES_PER_SAMPLE:
        got = f"{len(frames)} frames" if isinstance(frames, list) else frames
        raise fail("frames", f"a list of {FRAMES_PER_SAMPLE} images", got)
    first = frames[0]
    for index, frame in enumerate(frames):
        ok = (
            isinstance(frame, np.ndarray)
            and frame.dtype == np.uint8
            and frame.ndim == 3
            and frame.shape[2] == 3
            and frame.shape == first.shape
        )
        if not ok:
            expected = "uint8 array of shape (H, W, 3), the same for all frames"
            if isinstance(first, np.ndarray) and first.ndim == 3:
                expected += f" (frame0 is {tuple(first.shape)})"
            raise fail(f"frame{index}", expected, frame)

    num_steps = int(np.shape(triplet.flow_frame_indices)[0]) if np.ndim(triplet.flow_frame_indices) else -1
    symbols = {"F": FRAMES_PER_SAMPLE, "K": num_steps, "N": triplet.grid_size**2}
    for spec in ARRAY_FIELDS:
        value = getattr(triplet, spec.name)
        if value is None and spec.optional:
            continue
        if spec.name == "text_embedding" and isinstance(value, np.ndarray) and value.ndim == 1:
            symbols["D"] = value.shape[0]
        want = tuple(symbols.get(dim, dim) if isinstance(dim, str) else dim for dim in spec.shape)
        shape_text = ", ".join(
            f"{dim}={symbols[dim]}" if isinstance(dim, str) and dim in symbols else str(dim) for dim in spec.shape
        )
        if not isinstance(value, np.ndarray) or value.dtype != np.dtype(spec.dtype) or value.shape != want:
            raise fail(spec.name, f"{spec.dtype} array of shape ({shape_text})", value)
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise fail(spec.name, "finite values", f"{int(np.sum(~np.isfinite(value)))} non-finite values")

    if num_steps < 2:
        raise fail("flow_frame_indices", "at least 2 flow steps", f"{num_steps}")
    _check_indices(triplet, fail)
    _check_geometry(triplet, fail)
    return triplet


def _check_indices(triplet: Triplet, fail) -> None:
    indices = triplet.frame_indices
    if indices[0] < 0 or np.any(np.diff(indices) <= 0):
        raise fail("frame_indices", "non-negative, strictly increasing indices", str(indices.tolist()))
    if np.any(np.diff(triplet.timestamps) < 0) or triplet.timestamps[0] < 0:
        raise fail("timestamps", "non-negative, non-decreasing seconds", str(triplet.timestamps.tolist()))
    flow = triplet.flow_frame_indices
    if np.any(np.diff(flow) <= 0):
        raise fail("flow_frame_indices", "strictly increasing indices", str(flow.tolist()))
    if flow[0] != indices[0]:
        raise fail("flow_frame_indices", f"step 0 at the reference frame {int(indices[0])}", f"{int(flow[0])}")


def _check_geometry(triplet: Triplet, fail) -> None:
    intrinsics = triplet.intrinsics
    fx, fy = intrinsics[0, 0], intrinsics[1, 1]
    if fx <= 0 or fy <= 0 or not np.allclose(intrinsics[2], [0.0, 0.0, 1.0]) or intrinsics[1, 0] != 0:
        raise fail("intrinsics", "[[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0", intrinsics.tolist())
    if not np.all(triplet.visibility[0]):
        raise fail("visibility", "all query points visible at step 0", f"{int((~triplet.visibility[0]).sum())} hidden")
    if np.any(triplet.points3d_valid & ~triplet.visibility):
        raise fail("points3d_valid", "a subset of visibility", "valid points that are not visible")
    if np.any(triplet.points3d[~triplet.points3d_valid] != 0):
        raise fail("points3d", "zeros where points3d_valid is False", "non-zero invalid points")
    height, width = triplet.image_size
    query = triplet.tracks2d[0]
    inside = (
        (query[:, 0] >= -0.5) & (query[:, 0] <= width - 0.5) & (query[:, 1] >= -0.5) & (query[:, 1] <= height - 0.5)
    )
    if not np.all(inside):
        raise fail(
            "tracks2d", f"step-0 query points inside the {width}x{height} frame", f"{int((~inside).sum())} outside"
        )
    if triplet.depth_kind == "metric":
        z = triplet.points3d[..., 2][triplet.points3d_valid]
        if np.any(z <= 0):
            raise fail(
                "points3d", "positive depth (z > 0) for valid metric points", f"{int((z <= 0).sum())} with z <= 0"
            )


# ---- webdataset encoding --------------------------------------------------------------------------------


def encode_sample(triplet: Triplet, *, image_format: str = "jpg", jpeg_quality: int = 95) -> dict[str, Any]:
    """Encode a validated triplet to webdataset members (bytes), ready for ``ShardWriter.write``."""
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format: expected one of {IMAGE_FORMATS}, got {image_format!r}")
    validate(triplet)
    from PIL import Image  # pillow comes with torchvision

    sample: dict[str, Any] = {"__key__": triplet.key}
    meta = {
        "schema_version": SCHEMA_VERSION,
        "source": triplet.source,
        "video_id": triplet.video_id,
        "embodiment": triplet.embodiment,
        "instruction": triplet.instruction,
        "depth_kind": triplet.depth_kind,
        "grid_size": triplet.grid_size,
        "extractor": triplet.extractor,
        "text_encoder": triplet.text_encoder,
        "extras": triplet.extras,
    }
    if triplet.ego_motion is not None:
        meta["ego_motion"] = triplet.ego_motion
    sample["meta.json"] = json.dumps(meta, sort_keys=True).encode()
    for index, frame in enumerate(triplet.frames):
        buffer = io.BytesIO()
        if image_format == "jpg":
            Image.fromarray(frame).save(buffer, format="JPEG", quality=jpeg_quality)
        else:
            Image.fromarray(frame).save(buffer, format="PNG")
        sample[f"frame{index}.{image_format}"] = buffer.getvalue()
    for spec in ARRAY_FIELDS:
        value = getattr(triplet, spec.name)
        if value is None:
            continue
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        sample[f"{spec.name}.npy"] = buffer.getvalue()
    return sample


def decode_sample(members: Mapping[str, Any], *, origin: str | None = None) -> Triplet:
    """Decode raw webdataset members (bytes, as read from a tar) into a validated :class:`Triplet`.

    ``origin`` (the shard) defaults to the sample's ``__url__``; a sample of an unknown ``schema_version``
    raises :class:`SchemaVersionError`."""
    reader = SampleReader(members, origin=origin)
    return validate(reader.triplet(), origin=reader.origin)


class SampleReader:
    """The one reader of a sample's raw members, for every consumer of shards (validation, the training
    loader, the visualiser): reads ``meta.json`` and refuses an unknown ``schema_version`` on construction,
    then decodes members on demand, so a reader that needs three frames and three arrays decodes only
    those. Every failure is a :class:`SchemaError` naming the shard, the sample and the member."""

    def __init__(self, members: Mapping[str, Any], *, origin: str | None = None) -> None:
        self.members = members
        self.origin = origin if origin is not None else members.get("__url__")
        self.key = members.get("__key__", "?")
        meta = self.load("meta.json")
        if not isinstance(meta, dict):
            raise self.fail("meta.json", "a JSON object", _describe(meta))
        if "schema_version" in meta and meta["schema_version"] != SCHEMA_VERSION:
            where = f"{self.origin}: " if self.origin else ""
            raise SchemaVersionError(
                f"{where}sample '{self.key}': written with triplet schema_version {meta['schema_version']!r}, "
                f"this dynaflip reads schema_version {SCHEMA_VERSION} (read it with the dynaflip that wrote it, "
                "or extract it again)"
            )
        for name in (*_REQUIRED_META, "schema_version"):
            if name not in meta:
                raise self.fail(name, f"a key of meta.json ({META_FIELDS[name]})", "nothing (missing)")
        self.meta: dict[str, Any] = meta
        grid_size = meta["grid_size"]
        # Shape symbols: F and N are known, K (flow steps) and D (text width) are bound by the first array.
        self._symbols: dict[str, int] = {"F": FRAMES_PER_SAMPLE}
        if isinstance(grid_size, int):
            self._symbols["N"] = grid_size**2

    def fail(self, name: str, expected: str, got: str) -> SchemaError:
        return _fail(self.key, name, expected, got, self.origin)

    def load(self, name: str) -> Any:
        """Member ``name`` decoded by its extension (JSON, npy or image), or as it is if already decoded."""
        return _load_member(self.members, name, self.key, self.origin)

    def frame(self, index: int) -> np.ndarray:
        """Stored frame ``index`` (0 = I_t, F-1 = I_t+H) as a uint8 (H, W, 3) array."""
        name = next((f"frame{index}.{ext}" for ext in IMAGE_FORMATS if f"frame{index}.{ext}" in self.members), None)
        if name is None:
            raise self.fail(f"frame{index}", "an image member frame{i}.jpg or .png", "nothing (missing)")
        return self.load(name)

    def array(self, name: str) -> np.ndarray | None:
        """Array member ``name`` of :data:`ARRAY_FIELDS`, its dtype and shape checked against the field table
        and the arrays read before (None for an absent optional one)."""
        spec = _ARRAY_SPECS[name]
        member = f"{name}.npy"
        if spec.optional and member not in self.members:
            return None
        value = self.load(member)
        ok = isinstance(value, np.ndarray) and value.dtype == np.dtype(spec.dtype) and value.ndim == len(spec.shape)
        if ok:
            for dim, size in zip(spec.shape, value.shape, strict=True):
                want = self._symbols.setdefault(dim, size) if isinstance(dim, str) else dim
                ok = ok and size == want
        if not ok:
            shape = ", ".join(
                f"{dim}={self._symbols[dim]}" if isinstance(dim, str) and dim in self._symbols else str(dim)
                for dim in spec.shape
            )
            raise self.fail(name, f"{spec.dtype} array of shape ({shape})", _describe(value))
        return value

    def triplet(self) -> Triplet:
        """Every member decoded into a :class:`Triplet` (not yet validated: see :func:`validate`)."""
        meta = self.meta
        frames = [self.frame(index) for index in range(FRAMES_PER_SAMPLE)]
        arrays = {spec.name: self._raw_array(spec) for spec in ARRAY_FIELDS}
        return Triplet(
            key=self.key,
            source=meta["source"],
            video_id=meta["video_id"],
            embodiment=meta["embodiment"],
            instruction=meta["instruction"],
            frames=frames,
            depth_kind=meta["depth_kind"],
            grid_size=meta["grid_size"],
            extractor=meta["extractor"],
            text_encoder=meta.get("text_encoder"),
            extras=meta.get("extras") or {},
            ego_motion=meta.get("ego_motion"),
            **arrays,
        )

    def _raw_array(self, spec: ArrayField) -> Any:
        member = f"{spec.name}.npy"
        if spec.optional and member not in self.members:
            return None
        return self.load(member)  # unchecked: validate() names the first bad field with the full shape


_REQUIRED_META = ("source", "video_id", "embodiment", "instruction", "depth_kind", "grid_size", "extractor")
_ARRAY_SPECS = {spec.name: spec for spec in ARRAY_FIELDS}


def _load_member(members: Mapping[str, Any], name: str, key: str, origin: str | None) -> Any:
    if name not in members:
        raise _fail(key, name, "a member of the sample", "nothing (missing)", origin)
    value = members[name]
    if not isinstance(value, bytes | bytearray):
        return value  # already decoded
    try:
        if name.endswith(".json"):
            return json.loads(value)
        if name.endswith(".npy"):
            return np.load(io.BytesIO(value), allow_pickle=False)
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(value)).convert("RGB"))
    except Exception as error:  # corrupt member: name it
        raise _fail(key, name, "a decodable member", f"{type(error).__name__}: {error}", origin) from None


def _from_members(members: Mapping[str, Any], *, origin: str | None) -> Triplet:
    return SampleReader(members, origin=origin).triplet()
