"""Encoder specs of the policy evaluation: the calibration rows (oracle:state, blind) and image encoders that
are placed on their device once, not on every rollout step."""

import numpy as np
import pytest

from dynaflip.eval.encoders import EncoderSpecError, load_eval_encoder
from dynaflip.eval.policy.features import open_encoder
from dynaflip.eval.policy.state_encoders import OBSERVATION_DIM
from tests.helpers.policy_settings import TINY_ENCODER


def test_calibration_rows_read_the_state_and_never_the_image():
    oracle, blind = open_encoder("oracle:state"), open_encoder("blind")
    observations = np.random.default_rng(0).normal(size=(5, OBSERVATION_DIM))
    np.testing.assert_array_equal(oracle.state_features(observations), observations.astype(np.float32))
    assert blind.state_features(observations).shape == (5, 0)
    assert not oracle.needs_image and not blind.needs_image and oracle.parameters == 0
    assert oracle.identity != blind.identity and oracle.identity == open_encoder("oracle:state").identity
    with pytest.raises(ValueError, match=r"expected \(T, 39\) observations"):
        oracle.state_features(observations[:, :10])
    # They are not image encoders: the probe (and anything else that loads image encoders) says so in one line.
    for spec in ("oracle:state", "blind"):
        with pytest.raises(EncoderSpecError, match="only dynaflip-policy accepts it"):
            load_eval_encoder(spec)


def test_image_encoder_is_moved_to_its_device_once():
    encoder = open_encoder(TINY_ENCODER)
    assert encoder.needs_image
    moves = []
    original = encoder.module.to

    def counting_to(*args, **kwargs):
        moves.append(args)
        return original(*args, **kwargs)

    encoder.module.to = counting_to
    frame = np.zeros((1, 64, 64, 3), np.uint8)
    first = encoder.features(frame, batch_size=1)
    for _ in range(4):  # rollout steps
        np.testing.assert_array_equal(encoder.features(frame, batch_size=1), first)
    assert len(moves) == 1 and not encoder.module.training
