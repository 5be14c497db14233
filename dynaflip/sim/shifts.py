"""Out-of-distribution visual shifts as data: what each shift changes, its parameter ranges, and the
deterministic sampling of concrete parameters from (shift name, seed).

Shifts act at render time only (see :mod:`dynaflip.sim.scene_edits`): they edit the renderer's
``mjvScene`` after ``update_scene`` and never touch ``MjModel``/``MjData``, so physics is unchanged and
removing a shift restores the original render exactly. Ranges marked signed are magnitudes that get a
random sign.

Severity (issue 22): a shift named ``NAME@S`` (S in [0, 1], e.g. ``lighting@0.5``) draws the same parameters
as ``NAME`` and scales their departure from the unshifted scene by S. ``NAME`` alone is severity 1, the
documented (strong) ranges; severity 0 renders exactly the unshifted scene. Per shift: camera angles x S and
distance scale 1 + (d - 1) S; lighting log2-intensity, tint - 1 and light turn x S; table colour blended
from the scene's by S (the texture swap only at S = 1); distractors round(S x count); occluder area x S.
"""

from __future__ import annotations

import colorsys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

ID = None  # the in-distribution setting: no shift

TABLE_TEXTURES = ("none", "wood", "metal")  # none: a solid colour; else the scene's wood / metal material, tinted
DISTRACTOR_SHAPES = ("box", "sphere", "cylinder", "capsule")
SEVERITY_SEPARATOR = "@"


@dataclass(frozen=True)
class ShiftSpec:
    """What a shift changes and the documented ranges its parameters are drawn from."""

    name: str
    description: str
    ranges: MappingProxyType
    signed: frozenset[str] = frozenset()


def _ranges(**ranges: tuple[float, float]) -> MappingProxyType:
    return MappingProxyType(dict(ranges))


SHIFTS: dict[str, ShiftSpec] = {
    "camera": ShiftSpec(
        name="camera",
        description="the camera orbits the workspace centre, moves closer/further and rolls",
        ranges=_ranges(
            azimuth_degrees=(6.0, 12.0),
            elevation_degrees=(3.0, 8.0),
            roll_degrees=(2.0, 6.0),
            distance_scale=(0.88, 1.12),
        ),
        signed=frozenset({"azimuth_degrees", "elevation_degrees", "roll_degrees"}),
    ),
    "lighting": ShiftSpec(
        name="lighting",
        description="all lights (headlight included) dimmed or brightened, tinted, and the scene lights turned",
        ranges=_ranges(log2_intensity=(0.75, 1.3), tint=(0.7, 1.3), direction_degrees=(15.0, 40.0)),
        signed=frozenset({"log2_intensity"}),
    ),
    "table": ShiftSpec(
        name="table",
        description=f"the table gets a new colour and a texture from {TABLE_TEXTURES}",
        ranges=_ranges(hue=(0.0, 1.0), saturation=(0.3, 0.8), value=(0.35, 0.9)),
    ),
    "distractors": ShiftSpec(
        name="distractors",
        description=f"3-5 coloured primitives {DISTRACTOR_SHAPES} on the table, away from the task objects",
        ranges=_ranges(
            count=(3, 5),
            half_size=(0.025, 0.045),
            x=(-0.4, 0.4),
            y=(0.4, 0.85),
            saturation=(0.5, 1.0),
            value=(0.5, 1.0),
        ),
    ),
    "occlusion": ShiftSpec(
        name="occlusion",
        description="a grey plate between camera and workspace covering 15-25 % of the image, placed so that it "
        "hides neither the centre nor more than half of the task's object or goal",
        ranges=_ranges(area_fraction=(0.15, 0.25), aspect=(0.6, 1.7), distance=(0.25, 0.45), grey=(0.15, 0.5)),
    ),
}

DISTRACTOR_CANDIDATES = 24  # candidate positions per distractor shift; the first ones that fit are used
DISTRACTOR_CLEARANCE = 0.04  # metres between a distractor and a task object, the hand, the goal or another


@dataclass(frozen=True)
class Shift:
    """Concrete parameters of one shift, reproducible from (name, seed)."""

    name: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict, compare=False)
    severity: float = 1.0

    @property
    def label(self) -> str:
        """``name``, or ``name@severity`` below full severity (the split name that gives this shift)."""
        return self.name if self.severity == 1.0 else f"{self.name}{SEVERITY_SEPARATOR}{self.severity:g}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "severity": self.severity, "params": self.params}


def parse_shift(text: str) -> tuple[str, float]:
    """``"lighting"`` -> ("lighting", 1.0); ``"lighting@0.5"`` -> ("lighting", 0.5). An unknown name or a
    severity outside [0, 1] raises ValueError naming what was expected."""
    name, separator, level = str(text).partition(SEVERITY_SEPARATOR)
    if name not in SHIFTS:
        raise ValueError(f"shift: expected one of {sorted(SHIFTS)} (optionally NAME@SEVERITY) or None, got {text!r}")
    if not separator:
        return name, 1.0
    try:
        severity = float(level)
    except ValueError:
        severity = float("nan")
    if not 0.0 <= severity <= 1.0:
        raise ValueError(f"shift: severity in {text!r}: expected a number in [0, 1] after '@', got {level!r}")
    return name, severity


def shift_spec(name: str) -> ShiftSpec:
    """The spec of a shift (``NAME`` or ``NAME@SEVERITY``); an unknown name raises ValueError naming the
    known shifts."""
    return SHIFTS[parse_shift(name)[0]]


def _rng(name: str, seed: int) -> np.random.Generator:
    # crc32, not hash(): stable across processes and Python versions.
    return np.random.default_rng([zlib.crc32(name.encode()), int(seed) & 0xFFFFFFFF])


def _draw(rng: np.random.Generator, spec: ShiftSpec, key: str) -> float:
    low, high = spec.ranges[key]
    value = float(rng.uniform(low, high))
    if key in spec.signed and rng.random() < 0.5:
        value = -value
    return value


def _colour(hue: float, saturation: float, value: float) -> list[float]:
    return [*colorsys.hsv_to_rgb(hue % 1.0, saturation, value), 1.0]


def _sample_camera(rng: np.random.Generator, draw: Callable[[str], float]) -> dict[str, Any]:
    return {key: draw(key) for key in SHIFTS["camera"].ranges}


def _sample_lighting(rng: np.random.Generator, draw: Callable[[str], float]) -> dict[str, Any]:
    return {
        "intensity_scale": 2.0 ** draw("log2_intensity"),
        "tint": [draw("tint") for _ in range(3)],
        "direction_degrees": draw("direction_degrees"),
        "direction_axis_degrees": float(rng.uniform(0.0, 360.0)),  # the horizontal axis the lights turn about
    }


def _sample_table(rng: np.random.Generator, draw: Callable[[str], float]) -> dict[str, Any]:
    texture = TABLE_TEXTURES[int(rng.integers(len(TABLE_TEXTURES)))]
    return {"texture": texture, "rgba": _colour(draw("hue"), draw("saturation"), draw("value"))}


def _sample_distractors(rng: np.random.Generator, draw: Callable[[str], float]) -> dict[str, Any]:
    low, high = SHIFTS["distractors"].ranges["count"]
    candidates = [
        {
            "shape": DISTRACTOR_SHAPES[int(rng.integers(len(DISTRACTOR_SHAPES)))],
            "half_size": draw("half_size"),
            "xy": [draw("x"), draw("y")],
            "yaw_degrees": float(rng.uniform(0.0, 180.0)),
            "rgba": _colour(float(rng.random()), draw("saturation"), draw("value")),
        }
        for _ in range(DISTRACTOR_CANDIDATES)
    ]
    count = int(rng.integers(int(low), int(high) + 1))
    return {"count": count, "clearance": DISTRACTOR_CLEARANCE, "candidates": candidates}


def _sample_occlusion(rng: np.random.Generator, draw: Callable[[str], float]) -> dict[str, Any]:
    params: dict[str, Any] = {key: draw(key) for key in SHIFTS["occlusion"].ranges}
    params["centre"] = [float(rng.random()), float(rng.random())]  # where in the image, as fractions
    return params


_SAMPLERS = {
    "camera": _sample_camera,
    "lighting": _sample_lighting,
    "table": _sample_table,
    "distractors": _sample_distractors,
    "occlusion": _sample_occlusion,
}


def _scale_camera(params: dict[str, Any], severity: float) -> dict[str, Any]:
    out = {key: params[key] * severity for key in ("azimuth_degrees", "elevation_degrees", "roll_degrees")}
    return {**params, **out, "distance_scale": 1.0 + (params["distance_scale"] - 1.0) * severity}


def _scale_lighting(params: dict[str, Any], severity: float) -> dict[str, Any]:
    return {
        **params,
        "intensity_scale": 2.0 ** (np.log2(params["intensity_scale"]) * severity),
        "tint": [1.0 + (tint - 1.0) * severity for tint in params["tint"]],
        "direction_degrees": params["direction_degrees"] * severity,
    }


def _scale_table(params: dict[str, Any], severity: float) -> dict[str, Any]:
    return {**params, "blend": severity}  # scene_edits.edit_table blends the colour; the texture needs 1


def _scale_distractors(params: dict[str, Any], severity: float) -> dict[str, Any]:
    return {**params, "count": round(params["count"] * severity)}


def _scale_occlusion(params: dict[str, Any], severity: float) -> dict[str, Any]:
    return {**params, "area_fraction": params["area_fraction"] * severity}


_SCALERS = {
    "camera": _scale_camera,
    "lighting": _scale_lighting,
    "table": _scale_table,
    "distractors": _scale_distractors,
    "occlusion": _scale_occlusion,
}


def sample_shift(name: str, *, seed: int, severity: float | None = None) -> Shift:
    """Concrete parameters of shift ``name`` (``NAME`` or ``NAME@SEVERITY``) drawn from its ranges; the same
    (name, seed) gives the same. ``severity`` (in [0, 1]) overrides the one in the name. The draw does not
    depend on the severity: every level of one (name, seed) is the same change, scaled."""
    base, parsed = parse_shift(name)
    severity = parsed if severity is None else float(severity)
    if not 0.0 <= severity <= 1.0:
        raise ValueError(f"shift: severity: expected a number in [0, 1], got {severity}")
    spec = SHIFTS[base]
    rng = _rng(base, seed)
    params = _SAMPLERS[base](rng, lambda key: _draw(rng, spec, key))
    if severity != 1.0:
        params = _SCALERS[base](params, severity)
    return Shift(name=base, seed=int(seed), params=params, severity=severity)


def resolve_shift(shift: str | Shift | None, *, seed: int) -> Shift | None:
    """A :class:`Shift` from a name (sampled with ``seed``), a Shift (kept) or None (no shift)."""
    if shift is None or isinstance(shift, Shift):
        return shift
    if isinstance(shift, str):
        return sample_shift(shift, seed=seed)
    raise ValueError(f"shift: expected a shift name, a Shift or None, got {type(shift).__name__}")
