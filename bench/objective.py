"""Cost of the DynaFLIP heads and losses relative to the image encoder alone.

Measures forward+backward time and peak memory of (a) the image encoder alone on the frames of a batch
(a plain squared-feature loss), and (b) the full DynaFLIP step on the same frames and backbone (transition
head, text adapter on cached text embeddings, flow encoder, actor head, area InfoNCE + temporal + actor
losses), and (c) the full step with the frozen text encoder run live instead of cached. Prints ratios
against (a). The issue's aim: (b) costs under 1.25x (a) at ViT-S/16, batch 32, 224 px.

    .venv/bin/python bench/objective.py                       # ViT-S/16, batch 32, 224 px, CPU
    .venv/bin/python bench/objective.py --batch 8 --repeats 2 # quicker
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import measure_interleaved

from dynaflip.models import DynaFLIP, FrozenTextEncoder, ImageEncoderConfig, ModelConfig
from dynaflip.objective import DynaFLIPLoss, ObjectiveConfig
from dynaflip.step import forward_and_loss
from dynaflip.synthetic import synthetic_batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="vit_small_patch16_224")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)

    objective = ObjectiveConfig()
    text = FrozenTextEncoder()
    model_config = ModelConfig(image=ImageEncoderConfig(name=args.model, img_size=args.size))
    model = DynaFLIP(model_config, objective, text_dim=text.output_dim).to(device).train()
    text.to(device)
    loss_fn = DynaFLIPLoss(objective)
    batch = synthetic_batch(args.batch, image_size=args.size, text_dim=text.output_dim).to(device)
    frames = batch.frames[:, model.frames_needed()].flatten(0, 1)

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)

    def image_only() -> None:
        model.zero_grad(set_to_none=True)
        with autocast():
            loss = model.image_encoder(frames).float().pow(2).mean()
        loss.backward()

    def full_step(live_text: bool = False) -> None:
        model.zero_grad(set_to_none=True)
        inputs = batch
        if live_text:
            text._cache.clear()  # measure the frozen encoder itself, not its cache
            with autocast():
                inputs = dataclasses.replace(batch, text_embedding=text(batch.instructions))
        # The trainer's own forward and loss (the loss outside autocast, in float32).
        result = forward_and_loss(model, loss_fn, inputs, autocast=autocast())
        result.total.backward()

    print(
        f"# {args.model} {args.size}px, batch {args.batch} ({frames.shape[0]} frames: "
        f"{len(model.frames_needed())} per sample), device {device}, threads {torch.get_num_threads()}"
    )
    heads = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("image_encoder"))
    encoder = sum(p.numel() for p in model.image_encoder.parameters())
    print(f"# parameters: image encoder {encoder / 1e6:.1f} M, training heads {heads / 1e6:.1f} M")
    results = measure_interleaved(
        {"image": image_only, "full": full_step, "live": lambda: full_step(live_text=True)},
        device=device,
        rounds=args.repeats,
    )
    baseline, full, live = results["image"], results["full"], results["live"]
    print(baseline.row("image encoder alone"))
    print(full.row("full DynaFLIP step (cached text)", baseline))
    print(live.row("full DynaFLIP step (live text model)", baseline))
    overhead = full.seconds / baseline.seconds - 1
    print(f"overhead of heads + losses: {overhead * 100:+.1f} % time (aim: < 25 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
