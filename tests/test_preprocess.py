"""The encoder's input contract: Preprocess takes the common image types (numpy / torch / PIL, channels last or
first, one image or a batch, uint8 or floats in [0, 1]) to the same batch, refuses ambiguous ranges in one line,
and ImageEncoder.data_config describes exactly what it does."""

import numpy as np
import pytest
import torch
from PIL import Image

from dynaflip.models import ImageEncoder, ImageEncoderConfig, Preprocess
from dynaflip.models.preprocess import ImageInputError


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)  # H x W x 3, not square: resize and crop


def test_every_common_image_type_gives_the_same_batch(image):
    preprocess = Preprocess(size=32)
    reference = preprocess(image)
    assert reference.shape == (1, 3, 32, 32) and reference.dtype == torch.float32
    chw = np.ascontiguousarray(image.transpose(2, 0, 1))
    same = {
        "torch HWC uint8": torch.from_numpy(image),
        "numpy CHW uint8": chw,
        "torch CHW uint8": torch.from_numpy(chw),
        "numpy HWC float 0-1": image.astype(np.float32) / 255,
        "torch CHW float 0-1": torch.from_numpy(chw).float() / 255,
        "float64 0-1": image.astype(np.float64) / 255,
        "PIL RGB": Image.fromarray(image),
        "PIL RGBA": Image.fromarray(image).convert("RGBA"),
        "list of one": [image],
    }
    for name, value in same.items():
        assert torch.allclose(preprocess(value), reference, atol=1e-5), name
    batch = np.stack([image, image[::-1].copy()])
    expected = torch.cat([reference, preprocess(image[::-1].copy())])
    for name, value in {
        "numpy BHWC": batch,
        "torch BCHW": torch.from_numpy(batch).permute(0, 3, 1, 2),
        "list of PIL": [Image.fromarray(b) for b in batch],
        "list of tensors": [torch.from_numpy(b) for b in batch],
    }.items():
        assert torch.allclose(preprocess(value), expected, atol=1e-5), name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (lambda image: image.astype(np.float32), r"float pixels must lie in \[0, 1\], got 0 to 255 .*pass it as uint8"),
        (lambda image: image.astype(np.float32) * 2 - 3, r"got -3 to 507"),  # the "inputs up to 507"
        (lambda image: (image / 255.0 - 0.45) / 0.225, "already normalised one"),
        (lambda image: image[..., 0], r"expected an image \(H, W, 3\)"),
        (lambda image: np.concatenate([image, image[..., :1]], axis=-1), "expected 3 colour channels"),
        (lambda image: image.astype(np.int32) * 4, "integer pixels must lie in 0-255"),
        (lambda image: image > 128, "expected uint8 or float pixels"),
        (lambda image: "photo.png", "expected a numpy array, a torch tensor, a PIL image"),
        (lambda image: [image, image[:40]], "must share one size"),
    ],
)
def test_ambiguous_or_unsupported_inputs_are_refused_in_one_line(image, value, expected):
    with pytest.raises(ImageInputError, match=expected) as error:
        Preprocess(size=32)(value(image))
    assert "\n" not in str(error.value) and isinstance(error.value, ValueError)


def test_data_config_describes_what_preprocess_does(image):
    import timm.data

    encoder = ImageEncoder(
        ImageEncoderConfig(name="vit_tiny_patch16_224", pretrained=False, img_size=32, model_kwargs={"patch_size": 8})
    )
    config = encoder.data_config
    assert config["interpolation"] == "bilinear" and config["crop_pct"] == 1.0 and config["crop_mode"] == "center"
    assert config["input_size"] == (3, 32, 32)
    # timm's own eval transform built from data_config reproduces Preprocess (up to PIL's resampling) on a
    # smooth image; timm's defaults (bicubic, crop_pct 0.875) that data_config used to report do not.
    y, x = np.mgrid[0:96, 0:128] / 96.0
    smooth = np.stack([np.sin(3 * x) * 0.5 + 0.5, y * 0.8, np.cos(2 * x + y) * 0.4 + 0.5], axis=-1)
    smooth = (smooth * 255).round().astype(np.uint8)
    ours = Preprocess(size=32, mean=tuple(config["mean"]), std=tuple(config["std"]))(smooth)
    for crop_pct, interpolation, close in ((1.0, "bilinear", True), (0.875, "bicubic", False)):
        described = {**config, "crop_pct": crop_pct, "interpolation": interpolation}
        theirs = timm.data.create_transform(**described, is_training=False)(Image.fromarray(smooth))[None]
        difference = float((theirs - ours).abs().mean())
        assert theirs.shape == ours.shape and (difference < 0.02) == close, (crop_pct, difference)
