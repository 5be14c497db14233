"""Encoders under evaluation, behind one interface.

A spec string names an encoder:

==================================  =========================================================================
``PATH``                            a DynaFLIP export folder, or a training run folder / checkpoint
``dynaflip:NAME_OR_PATH_OR_URL``    anything :func:`dynaflip.load` accepts (registry name, folder, URL, hf-hub:)
``timm:NAME``                       a timm model with its pretrained weights (must be in the local cache)
``random:NAME[?key=value&...]``     a timm model with random weights (``seed`` and model kwargs as query)
``hf:PATH``                         a transformers vision model from a local folder (ViT, DINOv2, SigLIP, ...)
``open_clip:ARCH/TAG``              an open_clip image tower, when open_clip and the weights are cached
==================================  =========================================================================

Every encoder gives [CLS ; mean of patch tokens] of its last block (or, with ``last_n`` > 1, of each of
its last n blocks, concatenated: the DINOv2 linear-probe protocol), on images preprocessed the way the
encoder was trained (its own size, mean and std). ``identity`` names the weights exactly, for caches.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynaflip.errors import DynaflipError
from dynaflip.models.image_encoder import ImageEncoder, ImageEncoderConfig
from dynaflip.models.preprocess import Preprocess

# Specs of dynaflip-policy's calibration rows (eval/policy/state_encoders.py): not image encoders.
CALIBRATION_SPECS = ("oracle:state", "blind")


class EncoderSpecError(DynaflipError, ValueError):
    """The encoder spec cannot be resolved; the message says what was expected."""


@dataclass
class EvalEncoder:
    """A frozen image encoder and how to feed it."""

    name: str  # short display name
    spec: str
    identity: str  # spec + a fingerprint of the weights
    preprocess: Preprocess
    module: torch.nn.Module
    kind: str
    last_n: int = 1
    _device: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.module.eval()  # frozen: once here, not on every call (a rollout calls features() every step)

    @property
    def needs_image(self) -> bool:
        """Image encoders see the rendered frame (the policy's calibration rows do not)."""
        return True

    def to(self, device: str | torch.device) -> EvalEncoder:
        """Move the weights to ``device`` unless they are already there."""
        if self._device != str(device):
            self.module.to(device)
            self._device = str(device)
        return self

    @torch.no_grad()
    def features(self, images: np.ndarray, *, batch_size: int = 64, device: str | torch.device = "cpu") -> np.ndarray:
        """(B, D) float32 features of (B, H, W, 3) uint8 images."""
        self.to(device)
        out = []
        for start in range(0, len(images), batch_size):
            batch = self.preprocess(images[start : start + batch_size]).to(device)
            out.append(self._forward(batch).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        if self.kind == "image_encoder":
            if self.last_n == 1:
                return self.module(batch)
            return torch.cat(self.module.intermediate_features(batch, last_n=self.last_n), dim=-1)
        if self.kind == "transformers":
            output = self.module(pixel_values=batch, output_hidden_states=self.last_n > 1)
            states = output.hidden_states[-self.last_n :] if self.last_n > 1 else [output.last_hidden_state]
            return torch.cat([torch.cat([s[:, 0], s[:, 1:].mean(1)], dim=-1) for s in states], dim=-1)
        if self.kind == "open_clip":
            pooled, tokens = self.module(batch)
            return torch.cat([pooled, tokens.mean(1)], dim=-1)
        raise AssertionError(self.kind)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())


def load_eval_encoder(spec: str, *, last_n: int = 1) -> EvalEncoder:
    """Resolve an encoder spec (see the module docstring)."""
    if spec in CALIBRATION_SPECS and not Path(spec).exists():
        raise EncoderSpecError(
            f"encoder '{spec}': a policy calibration row (simulator state, not an image encoder); only "
            "dynaflip-policy accepts it"
        )
    kind, _, rest = spec.partition(":") if ":" in spec and not Path(spec).exists() else ("path", "", spec)
    if kind == "path":
        return _dynaflip(spec, spec, last_n=last_n)
    if kind == "dynaflip":
        return _dynaflip(spec, rest, last_n=last_n)
    if kind in ("timm", "random"):
        return _timm(spec, rest, pretrained=kind == "timm", last_n=last_n)
    if kind == "hf":
        return _transformers(spec, rest, last_n=last_n)
    if kind == "open_clip":
        return _open_clip(spec, rest, last_n=last_n)
    raise EncoderSpecError(
        f"encoder '{spec}': unknown kind '{kind}' (expected a path, dynaflip:, timm:, random:, hf: or open_clip:)"
    )


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _dynaflip(spec: str, target: str, *, last_n: int) -> EvalEncoder:
    path = Path(target)
    if path.is_dir() and not (path / "config.json").is_file():
        # A run folder or checkpoint: build the encoder straight from the checkpoint's weights.
        import safetensors.torch
        import yaml

        from dynaflip.config import from_dict
        from dynaflip.hub.export import ENCODER_FILE, find_checkpoint
        from dynaflip.hub.format import preprocess_for

        checkpoint = find_checkpoint(path)
        config = yaml.safe_load((checkpoint / "config.yaml").read_text())
        encoder = ImageEncoder(from_dict(ImageEncoderConfig, {**config["model"]["image"], "pretrained": False}))
        encoder.backbone.load_state_dict(safetensors.torch.load_file(str(checkpoint / ENCODER_FILE)))
        identity = _fingerprint(spec, str(checkpoint.resolve()), (checkpoint / ENCODER_FILE).stat().st_mtime_ns)
        return EvalEncoder(
            name=folder_display_name(path), spec=spec, identity=identity, preprocess=preprocess_for(encoder),
            module=encoder.eval(), kind="image_encoder", last_n=last_n,
        )  # fmt: skip
    import dynaflip

    encoder, preprocess = dynaflip.load(target)
    weights = "unknown"
    if path.is_dir() and (path / "config.json").is_file():
        weights = json.loads((path / "config.json").read_text()).get("weights_sha256", "unknown")
    name = folder_display_name(path) if path.exists() else target.rsplit("/", 1)[-1]
    return EvalEncoder(
        name=name, spec=spec, identity=_fingerprint(spec, weights), preprocess=preprocess, module=encoder,
        kind="image_encoder", last_n=last_n,
    )  # fmt: skip


# Folder names that say what a folder is, not which model it holds: a run's ``export/`` or ``checkpoints/last``.
GENERIC_FOLDER_NAMES = frozenset({"export", "exports", "final", "best", "last", "latest", "model", "checkpoints"})


def folder_display_name(path: Path) -> str:
    """Name shown in results for a model folder: ``runs/dynaflip/export`` is ``dynaflip``, not ``export``."""
    resolved = path.expanduser().resolve()
    for folder in (resolved, *resolved.parents):
        if folder.name and folder.name not in GENERIC_FOLDER_NAMES and not folder.name.startswith("step-"):
            return folder.name
    return path.name


def _parse_query(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, values in urllib.parse.parse_qs(text, keep_blank_values=True).items():
        value = values[-1]
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        out[key] = value
    return out


# timm.create_model's own keywords (beyond the model class's), and this module's (seed, img_size).
CREATE_MODEL_OPTIONS = frozenset(
    {"pretrained_cfg", "pretrained_cfg_overlay", "checkpoint_path", "cache_dir", "scriptable", "exportable"}
    | {"no_jit", "features_only", "out_indices", "feature_cfg", "pretrained_strict", "seed", "img_size"}
)


def check_model_options(spec: str, name: str, options: dict[str, Any]) -> None:
    """Refuse a ``random:``/``timm:`` option the model does not take, with the closest accepted key, before
    any weights exist (timm would raise a bare TypeError from deep inside the model's constructor). The
    accepted keys are the model class's constructor arguments, read from a model built on the meta device."""
    import difflib
    import inspect

    import timm

    if not options:
        return
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f" (closest: {', '.join(close)})" if close else ""
        raise EncoderSpecError(f"encoder '{spec}': unknown timm model '{name}'{hint}")
    try:
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False, num_classes=0)
    except Exception:  # a model that cannot be built on the meta device: let its own constructor judge
        return
    parameters = inspect.signature(type(model).__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return  # the class forwards unknown keywords: nothing to check against
    accepted = (set(parameters) - {"self", "device", "dtype"}) | CREATE_MODEL_OPTIONS
    for key in options:
        if key not in accepted:
            close = difflib.get_close_matches(key, sorted(accepted), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"accepted: {', '.join(sorted(accepted))}"
            raise EncoderSpecError(f"encoder '{spec}': option '{key}' is not accepted by timm model '{name}' ({hint})")


def check_spec(spec: str) -> None:
    """The checks of a spec that need no weights (its kind, a path that exists, ``random:``/``timm:`` options),
    so a CLI refuses a bad spec before any work; loading it may still fail later (weights not cached)."""
    if spec in CALIBRATION_SPECS and not Path(spec).exists():
        load_eval_encoder(spec)  # raises its one-line error
    kind, _, rest = spec.partition(":") if ":" in spec and not Path(spec).exists() else ("path", "", spec)
    if kind == "path":
        if not Path(spec).expanduser().exists():
            raise EncoderSpecError(
                f"encoder '{spec}': no such file or folder (expected a path, dynaflip:, timm:, random:, hf: or "
                "open_clip:)"
            )
        return
    if kind in ("timm", "random"):
        name, _, query = rest.partition("?")
        options = _parse_query(query)
        check_model_options(spec, name, options)
        return
    if kind == "dynaflip":
        _check_dynaflip_target(spec, rest)
        return
    if kind == "hf":
        path = Path(rest).expanduser()
        if not (path / "config.json").is_file():
            raise EncoderSpecError(
                f"encoder '{spec}': '{path}' is not a local transformers model folder (no config.json)"
            )
        return
    if kind != "open_clip":
        load_eval_encoder(spec)  # the unknown kind's one-line error


def _check_dynaflip_target(spec: str, target: str) -> None:
    """A local path must exist and a registry name must be in the registry; URLs and hf-hub ids are left to
    :func:`dynaflip.load` (checking them means fetching them)."""
    from dynaflip.hub.hf import HF_PREFIX
    from dynaflip.hub.registry import find_entry, load_registry
    from dynaflip.hub.remote import is_url
    from dynaflip.hub.resolve import _looks_like_path

    if target.startswith(HF_PREFIX) or is_url(target) or Path(target).expanduser().exists():
        return
    if _looks_like_path(target):
        raise EncoderSpecError(f"encoder '{spec}': '{target}': no such file or folder")
    try:
        entry = find_entry(target, load_registry())
    except (LookupError, ValueError) as error:
        raise EncoderSpecError(f"encoder '{spec}': {error}") from None
    if not entry.available:
        raise EncoderSpecError(f"encoder '{spec}': no weights are published yet (status: {entry.status})")


def _timm(spec: str, target: str, *, pretrained: bool, last_n: int) -> EvalEncoder:
    from dynaflip.hub.format import preprocess_for
    from dynaflip.models.image_encoder import PretrainedWeightsUnavailable

    name, _, query = target.partition("?")
    options = _parse_query(query)
    check_model_options(spec, name, options)
    seed = int(options.pop("seed", 0))
    img_size = int(options.pop("img_size", 224))
    config = ImageEncoderConfig(name=name, pretrained=pretrained, img_size=img_size, model_kwargs=options)
    torch.manual_seed(seed)
    try:
        encoder = ImageEncoder(config)
    except PretrainedWeightsUnavailable as error:
        raise EncoderSpecError(f"encoder '{spec}': {error} (or evaluate 'random:{name}' explicitly)") from None
    import timm

    identity = _fingerprint(spec, timm.__version__, seed)
    display = f"{name}{'' if pretrained else ' (random)'}"
    return EvalEncoder(
        name=display, spec=spec, identity=identity, preprocess=preprocess_for(encoder), module=encoder.eval(),
        kind="image_encoder", last_n=last_n,
    )  # fmt: skip


def _transformers(spec: str, target: str, *, last_n: int) -> EvalEncoder:
    from transformers import AutoImageProcessor, AutoModel

    path = Path(target).expanduser()
    if not (path / "config.json").is_file():
        raise EncoderSpecError(f"encoder '{spec}': '{path}' is not a local transformers model folder (no config.json)")
    model = AutoModel.from_pretrained(path, local_files_only=True)
    if hasattr(model, "vision_model"):  # CLIP/SigLIP: keep the image tower
        model = model.vision_model
    processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    size = processor.size.get("shortest_edge") or processor.size.get("height") or 224
    preprocess = Preprocess(size=int(size), mean=tuple(processor.image_mean), std=tuple(processor.image_std))
    weights = sorted((p.name, p.stat().st_size) for p in path.glob("*.safetensors")) or sorted(
        (p.name, p.stat().st_size) for p in path.glob("*.bin")
    )
    return EvalEncoder(
        name=folder_display_name(path), spec=spec, identity=_fingerprint(spec, weights), preprocess=preprocess,
        module=model.eval(), kind="transformers", last_n=last_n,
    )  # fmt: skip


class _OpenCLIPTower(torch.nn.Module):
    def __init__(self, visual: torch.nn.Module) -> None:
        super().__init__()
        self.visual = visual
        self.visual.output_tokens = True

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.visual(images)


def _open_clip(spec: str, target: str, *, last_n: int) -> EvalEncoder:
    try:
        import open_clip
    except ImportError:
        raise EncoderSpecError(f"encoder '{spec}': the package open_clip_torch is not installed") from None
    if last_n != 1:
        raise EncoderSpecError(f"encoder '{spec}': open_clip encoders support last_n=1 only")
    arch, _, tag = target.partition("/")
    try:
        model, _, transform = open_clip.create_model_and_transforms(arch, pretrained=tag or None)
    except Exception as error:
        raise EncoderSpecError(f"encoder '{spec}': cannot load offline ({str(error).splitlines()[0][:160]})") from None
    normalize = next(t for t in transform.transforms if type(t).__name__ == "Normalize")
    size = model.visual.image_size[0] if isinstance(model.visual.image_size, tuple) else model.visual.image_size
    preprocess = Preprocess(size=int(size), mean=tuple(normalize.mean), std=tuple(normalize.std))
    return EvalEncoder(
        name=target, spec=spec, identity=_fingerprint(spec, open_clip.__version__), preprocess=preprocess,
        module=_OpenCLIPTower(model.visual).eval(), kind="open_clip", last_n=last_n,
    )  # fmt: skip
