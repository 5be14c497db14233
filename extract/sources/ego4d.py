"""Ego4D narrations: the text convention and the official ``narration.json`` shape.

Narration text rule (:func:`clean_ego4d_narration`), applied in this order:

1. a leading camera-wearer tag ``#C C`` / ``#c c`` / ``#C`` is dropped: the wearer is the implied subject
   ("#C C picks up the knife" -> "Picks up the knife");
2. a leading other-person tag ``#O`` / ``#o`` is dropped, keeping the person it names
   ("#O man X holds a cup" -> "Man X holds a cup");
3. ``#C C`` / ``#C`` inside the text becomes "the camera wearer", ``#O`` inside the text is dropped
   ("#O woman A gives #C C a cup" -> "Woman A gives the camera wearer a cup");
4. ``#unsure`` (the annotator could not name the object) becomes "something"; any other ``#tag`` loses
   its ``#``;
5. whitespace is collapsed, a trailing full stop removed and the first letter capitalised (the rest of the
   text keeps its case).

Official shape: ``{video_uid: {"narration_pass_1": {"narrations": [{"timestamp_sec": 12.3,
"narration_text": "#C C ...", ...}, ...]}, "narration_pass_2": ...}}``. Ego4D narrations are points in
time; each becomes a clip of ``[t - w, t + w]`` (see narrations.py). Only the first annotation pass is used
(the second narrates the same moments again in other words, which would duplicate clips); a video without
``narration_pass_1`` falls back to its first pass in name order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .table import Row

_LEADING_WEARER = re.compile(r"^\s*#c\b(?:\s+c\b)?[\s:,]*", re.IGNORECASE)
_LEADING_OTHER = re.compile(r"^\s*#o\b[\s:,]*", re.IGNORECASE)
_WEARER = re.compile(r"#c\b(?:\s+c\b)?", re.IGNORECASE)
_OTHER = re.compile(r"#o\b\s*", re.IGNORECASE)
_UNSURE = re.compile(r"#unsure\b", re.IGNORECASE)
_TAG = re.compile(r"#(?=\w)")
PASS_KEY = "narration_pass_1"


def clean_ego4d_narration(text: str) -> str:
    """The instruction for an Ego4D narration (rule in the module docstring); '' when nothing is left."""
    text = _LEADING_WEARER.sub("", text, count=1)
    text = _LEADING_OTHER.sub("", text, count=1)
    text = _WEARER.sub("the camera wearer", text)
    text = _OTHER.sub("", text)
    text = _UNSURE.sub("something", text)
    text = _TAG.sub("", text)
    text = " ".join(text.split()).rstrip(".").rstrip()
    return text[:1].upper() + text[1:]


def is_ego4d_document(document: Any) -> bool:
    """True for the official narration.json shape (a dict of videos holding narration passes)."""
    return isinstance(document, dict) and any(
        isinstance(video, dict) and any(key.startswith("narration_pass") for key in video)
        for video in document.values()
    )


def ego4d_rows(document: dict[str, Any], *, path: str) -> Iterator[Row]:
    """One row per narration with ``video_uid``, ``timestamp_sec``, ``narration_text`` and the narration's
    other keys plus ``narration_pass``, in (video_uid, pass order) order."""
    for video_uid in sorted(document):
        video = document[video_uid]
        if not isinstance(video, dict):
            continue  # e.g. redacted videos carry a status string instead of passes
        passes = sorted(key for key in video if key.startswith("narration_pass"))
        if not passes:
            continue
        name = PASS_KEY if PASS_KEY in passes else passes[0]
        where = f"{path}[{video_uid}][{name}][narrations]"
        narrations = video[name].get("narrations", []) if isinstance(video[name], dict) else None
        if not isinstance(narrations, list):
            yield Row(where, 0, error="expected a list of narrations", is_item=True)
            continue
        for index, narration in enumerate(narrations):
            if not isinstance(narration, dict):
                yield Row(where, index, error=f"expected a JSON object, got {type(narration).__name__}", is_item=True)
                continue
            values = {**narration, "video_uid": video_uid, "narration_pass": name}
            yield Row(where, index, values=values, is_item=True)
