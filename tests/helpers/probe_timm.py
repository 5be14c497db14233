"""A Hugging Face hub cache in a temporary folder holding "pretrained" timm weights (randomly initialised),
so that ``timm:NAME`` specs load through timm's real hub code path offline."""

from __future__ import annotations

from pathlib import Path

import torch

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_timm_hub_cache(cache: Path, model_name: str, *, seed: int = 7) -> dict[str, torch.Tensor]:
    """Write ``models--<org>--<repo>/snapshots/<commit>/model.safetensors`` (+ ``refs/main``) for the hf_hub_id
    of ``model_name``'s default pretrained tag, as ``hf_hub_download`` would; returns the saved tensors."""
    import safetensors.torch
    import timm

    hub_id = timm.models.get_pretrained_cfg(model_name).hf_hub_id
    assert hub_id, f"{model_name} has no hf_hub_id"
    torch.manual_seed(seed)
    state = {
        key: value.contiguous() for key, value in timm.create_model(model_name, pretrained=False).state_dict().items()
    }
    repo = Path(cache) / ("models--" + hub_id.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(state, str(snapshot / "model.safetensors"), metadata={"format": "pt"})
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return state


def use_hub_cache(monkeypatch, home: Path) -> Path:
    """Point HF_HOME / HF_HUB_CACHE at ``home`` for this test, offline. huggingface_hub reads its cache path
    once at import, so the module constant is patched too."""
    import huggingface_hub.constants

    cache = Path(home) / "hub"
    cache.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache
