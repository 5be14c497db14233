"""Encoders: the image feature definition, the frozen MiniLM text encoder against sentence-transformers, and
the flow encoder's use of visibility."""

import numpy as np
import pytest
import torch

from dynaflip.models import (
    FlowEncoder,
    FrozenTextEncoder,
    ImageEncoder,
    ImageEncoderConfig,
    Preprocess,
    PretrainedWeightsUnavailable,
    TextEncoderConfig,
)
from dynaflip.models.text_encoder import resolve_text_model_path, text_embedding_dim
from tests.helpers.tiny import TINY_FLOW, TINY_IMAGE


def test_image_feature_is_cls_and_mean_patch_of_the_token_map():
    torch.manual_seed(0)
    encoder = ImageEncoder(TINY_IMAGE).eval()
    images = torch.randn(3, 3, 32, 32)
    tokens = encoder.forward_features(images)
    assert tokens.shape == (3, 1 + 16, 48)
    features = encoder(images)
    assert features.shape == (3, encoder.output_dim) == (3, 96)
    torch.testing.assert_close(features, torch.cat([tokens[:, 0], tokens[:, 1:].mean(1)], dim=-1))
    encoded = encoder.encode(images)
    assert encoded.patch_tokens.shape == (3, 16, 48)


def test_intermediate_features_end_with_the_final_feature():
    encoder = ImageEncoder(TINY_IMAGE).eval()
    images = torch.randn(2, 3, 32, 32)
    layers = encoder.intermediate_features(images, last_n=2)
    assert len(layers) == 2 and all(layer.shape == (2, 96) for layer in layers)
    torch.testing.assert_close(layers[-1], encoder(images), rtol=1e-5, atol=1e-5)


def test_cnn_backbones_are_supported():
    encoder = ImageEncoder(ImageEncoderConfig(name="resnet18", img_size=32)).eval()
    features = encoder(torch.randn(2, 3, 32, 32))
    assert features.shape == (2, 2 * 512)


def test_unknown_model_and_missing_weights_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown timm model 'vit_tiny_patch16_2244'"):
        ImageEncoder(ImageEncoderConfig(name="vit_tiny_patch16_2244"))
    with pytest.raises(PretrainedWeightsUnavailable, match="not found"):
        ImageEncoder(ImageEncoderConfig(name="vit_tiny_patch16_224", pretrained=str(tmp_path / "missing.safetensors")))


def test_pretrained_weights_load_from_a_local_file(tmp_path):
    import safetensors.torch

    source = ImageEncoder(TINY_IMAGE)
    path = tmp_path / "weights.safetensors"
    safetensors.torch.save_file(source.backbone.state_dict(), str(path))
    loaded = ImageEncoder(ImageEncoderConfig(**{**TINY_IMAGE.__dict__, "pretrained": str(path)}))
    images = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(loaded.eval()(images), source.eval()(images))


def test_preprocess_resizes_crops_and_normalises():
    preprocess = Preprocess(size=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    image = np.zeros((20, 40, 3), dtype=np.uint8)
    image[:, 10:30] = 255
    batch = preprocess(image)
    assert batch.shape == (1, 3, 16, 16)
    assert torch.allclose(batch[0, :, 8, 8], torch.ones(3))  # the white centre survives the centre crop
    assert batch.min() >= -1 and batch.max() <= 1
    with pytest.raises(ValueError, match=r"expected an image \(H, W, 3\)"):
        preprocess(np.zeros((4, 4), dtype=np.uint8))


def test_minilm_text_encoder_matches_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    texts = ["open the drawer", "close the drawer", "pick up the red block and place it on the shelf"]
    encoder = FrozenTextEncoder(TextEncoderConfig())
    ours = encoder(texts)
    assert ours.shape == (3, 384) == (3, text_embedding_dim(TextEncoderConfig()))
    reference = SentenceTransformer(resolve_text_model_path("all-minilm-l6-v2"), device="cpu")
    # The sentence-transformers pipeline for this model is mean pooling, then L2 normalisation.
    want = torch.from_numpy(reference.encode(texts, normalize_embeddings=True))
    torch.testing.assert_close(torch.nn.functional.normalize(ours, dim=-1), want, atol=1e-5, rtol=1e-4)
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.model.training  # stays frozen in eval mode


def test_text_encoder_refuses_a_folder_without_a_model(tmp_path):
    with pytest.raises(RuntimeError, match=r"has no config\.json"):
        FrozenTextEncoder(TextEncoderConfig(name=str(tmp_path)))


def flow_inputs(batch=2, steps=3, grid=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    points = torch.randn(batch, steps, grid * grid, 3, generator=generator) * 0.1 + torch.tensor([0.0, 0.0, 1.0])
    valid = torch.ones(batch, steps, grid * grid, dtype=torch.bool)
    valid[:, 2, :5] = False
    return points * valid.unsqueeze(-1), valid


def test_flow_encoder_ignores_coordinates_of_invalid_points_but_not_valid_ones():
    torch.manual_seed(0)
    encoder = FlowEncoder(TINY_FLOW, grid_size=4, image_dim=96, embed_dim=16).eval()
    points, valid = flow_inputs()
    image = torch.randn(2, 96)
    base = encoder(points, valid, image)
    assert base.shape == (2, 16) and torch.allclose(base.norm(dim=-1), torch.ones(2))
    junk = points.clone()
    junk[:, 2, :5] = 7.0  # coordinates of invisible points are meaningless
    torch.testing.assert_close(encoder(junk, valid, image), base)
    moved = points.clone()
    moved[:, 2, 7] += 0.05
    assert not torch.allclose(encoder(moved, valid, image), base)
    hidden = valid.clone()
    hidden[:, 1, 3] = False  # visibility itself is information
    assert not torch.allclose(encoder(points * hidden.unsqueeze(-1), hidden, image), base)


def test_flow_encoder_is_invariant_to_scene_scale_with_median_depth_normalisation():
    encoder = FlowEncoder(TINY_FLOW, grid_size=4, image_dim=96, embed_dim=16).eval()
    points, valid = flow_inputs()
    image = torch.randn(2, 96)
    torch.testing.assert_close(encoder(points * 3.0, valid, image), encoder(points, valid, image), atol=1e-5, rtol=1e-5)


def test_a_local_t5_folder_loads_as_an_encoder_with_eos_pooling(tmp_path):
    """T5 by local path: the encoder-only model, pooled at the EOS (last unpadded) token as in the paper."""
    from transformers import AutoTokenizer, T5Config, T5EncoderModel

    tokenizer = AutoTokenizer.from_pretrained(resolve_text_model_path("all-minilm-l6-v2"))
    config = T5Config(vocab_size=tokenizer.vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    torch.manual_seed(0)
    T5EncoderModel(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    encoder = FrozenTextEncoder(TextEncoderConfig(name=str(tmp_path)))
    assert encoder.pooling == "eos" and encoder.output_dim == 32
    texts = ["push the button", "open the top drawer of the cabinet"]
    ours = encoder(texts)
    reference = T5EncoderModel.from_pretrained(tmp_path).eval()
    for row, text in enumerate(texts):
        tokens = tokenizer(text, return_tensors="pt")
        hidden = reference(**tokens).last_hidden_state[0, -1]
        torch.testing.assert_close(ours[row], hidden, atol=1e-5, rtol=1e-4)
