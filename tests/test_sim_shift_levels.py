"""Shift severities (issue 22): ``NAME@S`` scales a shift's departure from the unshifted scene; severity 0 renders
exactly the unshifted scene, severity 1 is the documented strong level, and the change in pixels grows with S."""

import itertools

import numpy as np
import pytest

from dynaflip.config import load_config
from dynaflip.eval.policy import PolicyConfig, validate
from dynaflip.sim.shifts import SHIFTS, parse_shift, sample_shift, shift_spec

LEVELS = (0.0, 0.25, 0.5, 1.0)


def test_severity_is_parsed_from_the_split_name():
    assert parse_shift("lighting") == ("lighting", 1.0)
    assert parse_shift("occlusion@0.25") == ("occlusion", 0.25)
    assert shift_spec("camera@0.5") is SHIFTS["camera"]
    for bad, message in (("fog@0.5", "expected one of"), ("lighting@2", r"in \[0, 1\]"), ("table@x", "severity")):
        with pytest.raises(ValueError, match=message):
            parse_shift(bad)


def test_levels_scale_one_draw():
    full = sample_shift("camera", seed=5)
    half = sample_shift("camera@0.5", seed=5)
    assert full.severity == 1.0 and full.label == "camera" and half.label == "camera@0.5"
    assert half.params["azimuth_degrees"] == pytest.approx(0.5 * full.params["azimuth_degrees"])
    assert half.params["distance_scale"] - 1 == pytest.approx(0.5 * (full.params["distance_scale"] - 1))
    assert sample_shift("camera", seed=5, severity=0.5).params == half.params
    assert sample_shift("camera@1", seed=5).params == full.params  # the strong level is unchanged
    lighting = sample_shift("lighting@0", seed=2).params
    assert lighting["intensity_scale"] == 1.0 and lighting["tint"] == [1.0] * 3 and lighting["direction_degrees"] == 0
    assert sample_shift("distractors@0.5", seed=1).params["count"] == round(
        sample_shift("distractors", seed=1).params["count"] * 0.5
    )
    assert sample_shift("occlusion@0.5", seed=1).to_json()["severity"] == 0.5


def test_policy_config_takes_levels_as_split_names():
    config = load_config(PolicyConfig, overrides=["rollout.shifts=[lighting@0.5, lighting, occlusion@0.25]"])
    validate(config)
    assert config.splits == ["id", "lighting@0.5", "lighting", "occlusion@0.25"]
    bad = load_config(PolicyConfig, overrides=["rollout.shifts=[lighting@1.5]"])
    with pytest.raises(ValueError, match="severity"):
        validate(bad)


pytest.importorskip("mujoco")
pytest.importorskip("metaworld")


@pytest.fixture(scope="module")
def sim():
    from dynaflip.sim import MetaWorldSim

    with MetaWorldSim("pick-place-v3", seed=0, image_size=(64, 64)) as sim:
        yield sim


def _render(sim, shift, seed):
    sim.reset()
    sim.set_shift(shift, seed=seed)
    return sim.render(with_segmentation=True)


@pytest.mark.parametrize("name", sorted(SHIFTS))
def test_severity_zero_is_no_shift_and_the_change_grows_with_severity(sim, name):
    seed = 3
    plain = _render(sim, None, seed)
    changes = []
    for level in LEVELS:
        frame = _render(sim, f"{name}@{level:g}", seed)
        if level == 0.0:
            np.testing.assert_array_equal(frame.rgb, plain.rgb)
            np.testing.assert_array_equal(frame.depth, plain.depth)
            np.testing.assert_array_equal(frame.segmentation, plain.segmentation)
            np.testing.assert_array_equal(frame.cam_to_world, plain.cam_to_world)
        changes.append(float(np.mean(np.abs(frame.rgb.astype(int) - plain.rgb))))
    full = float(np.mean(np.abs(_render(sim, name, seed).rgb.astype(int) - plain.rgb)))
    assert changes[-1] == full  # NAME@1 is NAME
    assert changes[0] == 0.0 and all(a <= b for a, b in itertools.pairwise(changes)), changes
    assert changes[1] < changes[-1], changes


def test_the_report_counts_a_level_split_as_its_shift_evaluated():
    from dynaflip.eval.report.markdown import _shift_coverage

    line = _shift_coverage(["id", "lighting@0.5", "camera"])
    assert line.startswith("Policy shifts evaluated: lighting@0.5, camera;")
    assert "not evaluated in this run: table, distractors, occlusion." in line
