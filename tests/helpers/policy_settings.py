"""A policy-transfer setting that runs in well under a minute on 2 CPU cores: the tiny random ViT, 64 px
renders, one easy task, 3 + 1 demos, a few epochs and short rollouts."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUICK_CONFIG = str(REPO / "configs" / "eval" / "policy-quick.yaml")
TINY_ENCODER = "random:vit_tiny_patch16_224?img_size=64&patch_size=8&depth=2"
TASK = "button-press-topdown-v3"  # the expert succeeds in about 65 steps on every seed tried
SIZE = 64


def tiny_overrides(cache_dir: Path, **changes: object) -> list[str]:
    """key=value overrides of the tiny setting; ``changes`` replace or add keys (dots as '__')."""
    settings = {
        "tasks": f"[{TASK}]",
        "render.image_size": SIZE,
        "demos.per_task": 3,
        "demos.validation": 1,
        "bc.epochs": 3,
        "bc.seeds": "[0]",
        "rollout.episodes": 1,
        "rollout.horizon": 40,
        "runtime.workers": 2,
        "runtime.cache_dir": str(cache_dir),
    }
    settings |= {key.replace("__", "."): value for key, value in changes.items()}
    return [f"{key}={value}" for key, value in settings.items()]
