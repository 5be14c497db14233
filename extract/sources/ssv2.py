"""Something-Something v2: ``{id}.webm`` videos and the official labels JSON (train.json, validation.json).

A labels item looks like ``{"id": "78687", "label": "holding potato next to vicks vaporub bottle",
"template": "Holding [something] next to [something]", "placeholders": ["potato", "vicks vaporub bottle"]}``.
The instruction is ``label``; without it, the template's bracketed slots filled with the placeholders in
order. Items of the test split carry only an id and are skipped as "no-instruction".
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..clips import ClipSpec, SkippedClip, safe_id
from .fields import FieldError, is_missing, text_field
from .ordering import ordered
from .table import read_table
from .videos import VideoFinder

SOURCE = "something-something-v2"
_SLOT = re.compile(r"\[[^\[\]]*\]")  # "[something]", "[something in it]", "[Something]", ...


def fill_template(template: str, placeholders: list[str]) -> str:
    """``template`` with its bracketed slots replaced by ``placeholders`` in order; counts must match."""
    slots = _SLOT.findall(template)
    if len(slots) != len(placeholders):
        raise ValueError(f"{len(slots)} slots in the template but {len(placeholders)} placeholders")
    fills = iter(placeholders)
    return _SLOT.sub(lambda _: next(fills), template)


def iter_ssv2_clips(
    videos_dir: str | os.PathLike[str],
    labels_json: str | os.PathLike[str],
    *,
    video_extension: str = ".webm",
) -> Iterator[ClipSpec | SkippedClip]:
    """One whole-video clip per labels item (human, no intrinsics or depth), sorted by id.

    The video is ``videos_dir/{id}`` + ``video_extension``, else ``.mp4`` (re-encoded copies), matched
    case-insensitively. ``labels_json`` may also be a JSONL/CSV table with the same fields.
    """
    finder = VideoFinder(videos_dir, extensions=dict.fromkeys([video_extension, ".webm", ".mp4"]))
    clips: list[ClipSpec] = []
    skipped: list[SkippedClip] = []
    for row in read_table(labels_json):
        fallback_id = safe_id(f"{Path(labels_json).stem}-item{row.line}")
        if row.error is not None:
            skipped.append(SkippedClip(fallback_id, str(labels_json), "bad-row", f"{row.where}: {row.error}"))
            continue
        values = row.values
        try:
            video_id = _id_field(values)
            instruction = _instruction(values)
        except FieldError as error:
            skipped.append(SkippedClip(fallback_id, str(labels_json), "bad-row", f"{row.where}: {error}"))
            continue
        clip_id = safe_id(video_id)
        where = f"{row.where} (id {video_id})"
        if instruction is None:
            detail = f"{where}: fields 'label'/'template': expected an instruction, got neither (test split?)"
            skipped.append(SkippedClip(clip_id, str(labels_json), "no-instruction", detail))
            continue
        video = finder.find(video_id)
        if video is None:
            detail = f"{where}: no video {video_id}{video_extension} (or .mp4) in {videos_dir}"
            skipped.append(
                SkippedClip(clip_id, str(Path(videos_dir) / f"{video_id}{video_extension}"), "missing-video", detail)
            )
            continue
        extras = {key: values[key] for key in ("template", "placeholders") if not is_missing(values.get(key))}
        clips.append(
            ClipSpec(
                clip_id=clip_id,
                source=SOURCE,
                video_id=video_id,
                video_path=str(video),
                instruction=instruction,
                embodiment="human",
                extras=extras,
            )
        )
    yield from ordered(clips, skipped)


def _id_field(values: Mapping[str, Any]) -> str:
    value = values.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = text_field(values, "id")
    if text is None or "/" in text or text in (".", ".."):  # the id names a file in videos_dir
        raise FieldError("id", "a video id (file name without extension)", value)
    return text


def _instruction(values: Mapping[str, Any]) -> str | None:
    label = text_field(values, "label", required=False)
    if label is not None:
        return label
    template = text_field(values, "template", required=False)
    if template is None:
        return None
    placeholders = values.get("placeholders") or []
    if not isinstance(placeholders, list) or not all(isinstance(p, str) and p.strip() for p in placeholders):
        raise FieldError("placeholders", "a list of non-empty strings", placeholders)
    try:
        return " ".join(fill_template(template, [" ".join(p.split()) for p in placeholders]).split())
    except ValueError as error:
        raise FieldError("placeholders", f"one per template slot ({error})", placeholders) from None
