"""The plain folder format: ``NAME.mp4`` + ``NAME.json`` sidecar (+ ``NAME.depth.npz``, ``NAME.state.npz``),
or a CSV/TSV/JSONL manifest listing the clips instead of sidecars.

Sidecar / manifest fields: ``instruction`` (required), ``intrinsics`` (3x3, native resolution),
``embodiment``, ``start_seconds``/``end_seconds``, ``source``, ``video_id``, ``clip_id``; any other field
goes into ``extras``. A manifest row also has ``video`` and optionally ``depth`` / ``state`` (paths relative
to the manifest's folder, or absolute); without a ``depth``/``state`` column the ``NAME.depth.npz`` /
``NAME.state.npz`` next to the video is used when present.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dynaflip.errors import DynaflipError
from dynaflip.schema import EMBODIMENTS

from ..clips import ClipSpec, SkippedClip, safe_id
from .fields import (
    FieldError,
    bounds_fields,
    embodiment_field,
    intrinsics_field,
    is_missing,
    milliseconds,
    show,
    text_field,
)
from .ordering import ordered
from .table import read_table
from .videos import VIDEO_EXTENSIONS, is_video

DEFAULT_SOURCE = "folder"
DEPTH_SUFFIX = ".depth.npz"
STATE_SUFFIX = ".state.npz"
# Fields with a meaning; everything else in a sidecar or manifest row is kept in ClipSpec.extras.
RESERVED = frozenset(
    {"instruction", "intrinsics", "embodiment", "start_seconds", "end_seconds", "source", "video_id", "clip_id"}
    | {"video", "depth", "state"}
)


class MissingIntrinsicsError(DynaflipError, ValueError):
    """Clips without intrinsics while no ``assume_fovy_degrees`` is set: refused before any work."""


def iter_folder_clips(
    root: str | os.PathLike[str],
    *,
    manifest: str | os.PathLike[str] | None = None,
    default_embodiment: str = "human",
    recursive: bool = True,
    intrinsics_required: bool = False,
) -> Iterator[ClipSpec | SkippedClip]:
    """Clips of the videos under ``root`` (sidecars), or of the rows of ``manifest`` when given.

    Yields SkippedClip items first (missing/bad sidecar, bad row, missing video/depth/state), then the
    clips sorted by ``clip_id``: the video's path relative to ``root`` without extension (key-safe), plus
    ``-s<start_ms>`` and ``-e<end_ms>`` when the clip has bounds; a ``clip_id`` field overrides it.
    ``manifest`` is looked up as given, then inside ``root``. Hidden files and folders are ignored.
    ``intrinsics_required``: refuse (MissingIntrinsicsError, one line) clips without intrinsics, set when no
    ``assume_fovy_degrees`` is configured, so a run does not skip every clip one by one.
    """
    if default_embodiment not in EMBODIMENTS:
        raise ValueError(f"default_embodiment: expected one of {EMBODIMENTS}, got {default_embodiment!r}")
    root = Path(root)
    clips: list[ClipSpec] = []
    skipped: list[SkippedClip] = []
    if manifest is None:
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: folder not found")
        for folder, files in _walk(root, recursive=recursive):
            _scan_folder(root, folder, files, default_embodiment, clips, skipped)
    else:
        table = Path(manifest)
        if not table.is_file() and not table.is_absolute() and (root / table).is_file():
            table = root / table
        _read_manifest(root, table, default_embodiment, clips, skipped)
    lacking = [clip for clip in clips if clip.intrinsics is None]
    if intrinsics_required and lacking:
        where = "rows of the manifest" if manifest is not None else "sidecars"
        raise MissingIntrinsicsError(
            f"{root}: {len(lacking)} of {len(clips)} clips have no intrinsics (first: {lacking[0].video_path}); set "
            "assume_fovy_degrees=<vertical field of view in degrees> explicitly, or give 'intrinsics' (3x3, in "
            f"pixels of the native video) in their {where}"
        )
    yield from ordered(clips, skipped)


def _walk(root: Path, *, recursive: bool) -> Iterator[tuple[Path, list[str]]]:
    """(folder, sorted visible file names), folders in sorted order (so skips come out the same every run)."""
    if not recursive:
        yield root, sorted(name for name in os.listdir(root) if not name.startswith(".") and (root / name).is_file())
        return
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        yield Path(folder), sorted(name for name in files if not name.startswith("."))


def _scan_folder(
    root: Path, folder: Path, files: list[str], embodiment: str, clips: list[ClipSpec], skipped: list[SkippedClip]
) -> None:
    present = set(files)
    stems = {Path(name).stem for name in files if is_video(name)}
    for name in files:
        path = folder / name
        rel = path.relative_to(root)
        stem = Path(name).stem
        if is_video(name):
            sidecar = folder / f"{stem}.json"
            shown = sidecar.relative_to(root).as_posix()
            item_id = safe_id(rel.with_suffix("").as_posix())
            if f"{stem}.json" not in present:
                expected = "a JSON object with at least 'instruction'"
                detail = f"{rel.as_posix()}: no sidecar {shown} (expected {expected})"
                skipped.append(SkippedClip(item_id, str(path), "missing-sidecar", detail))
                continue
            try:
                record = _load_sidecar(sidecar, shown)
                clip = _make_clip(
                    record,
                    video=path,
                    id_base=rel.with_suffix("").as_posix(),
                    depth=_sibling(folder, stem, DEPTH_SUFFIX, present),
                    state=_sibling(folder, stem, STATE_SUFFIX, present),
                    default_embodiment=embodiment,
                )
            except FieldError as error:
                skipped.append(SkippedClip(item_id, str(sidecar), "bad-sidecar", f"{shown}: {error}"))
                continue
            except ValueError as error:  # invalid JSON, not an object
                skipped.append(SkippedClip(item_id, str(sidecar), "bad-sidecar", str(error)))
                continue
            clips.append(clip)
        elif name.endswith(".json") and stem not in stems and _looks_like_sidecar(path):
            # A sidecar whose video is gone (renamed, failed download): worth counting, not silently ignored.
            wanted = "|".join(ext.lstrip(".") for ext in VIDEO_EXTENSIONS)
            detail = f"{rel.as_posix()}: no video {stem}.<{wanted}> next to this sidecar"
            skipped.append(SkippedClip(safe_id(rel.with_suffix("").as_posix()), str(path), "missing-video", detail))


def _sibling(folder: Path, stem: str, suffix: str, present: set[str]) -> Path | None:
    return folder / f"{stem}{suffix}" if f"{stem}{suffix}" in present else None


def _load_sidecar(path: Path, shown: str) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{shown}:{error.lineno}: invalid JSON ({error.msg}, column {error.colno})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{shown}: not UTF-8 text") from None
    if not isinstance(record, dict):
        raise ValueError(f"{shown}: expected a JSON object, got {type(record).__name__}")
    return record


def _looks_like_sidecar(path: Path) -> bool:
    """Other JSON files (dataset metadata, configs) may live in the folder; only ones with an instruction
    are taken for orphaned sidecars."""
    try:
        record = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, OSError):
        return False
    return isinstance(record, dict) and "instruction" in record


def _read_manifest(root: Path, table: Path, embodiment: str, clips: list[ClipSpec], skipped: list[SkippedClip]) -> None:
    base = table.parent
    for row in read_table(table):
        fallback_id = safe_id(f"{table.stem}-line{row.line}")
        if row.error is not None:
            skipped.append(SkippedClip(fallback_id, str(table), "bad-row", f"{row.where}: {row.error}"))
            continue
        values = row.values
        try:
            video = _resolve(text_field(values, "video") or "", base)
            id_base = _relative_stem(video, root, base)
            item_id = safe_id(id_base)
            if not video.is_file():
                detail = f"{row.where}: field 'video': expected an existing file, got {show(values['video'])} ({video})"
                skipped.append(SkippedClip(item_id, str(video), "missing-video", detail))
                continue
            paths: dict[str, Path | None] = {}
            missing = None
            for name, suffix in (("depth", DEPTH_SUFFIX), ("state", STATE_SUFFIX)):
                path = _path_field(values, name, base, required=False)
                if path is None:
                    sibling = video.with_name(video.stem + suffix)
                    path = sibling if sibling.is_file() else None
                elif not path.is_file():
                    missing = (name, path)
                paths[name] = path
            if missing is not None:
                name, path = missing
                detail = f"{row.where}: field '{name}': expected an existing file, got {show(values[name])} ({path})"
                skipped.append(SkippedClip(item_id, str(path), f"missing-{name}", detail))
                continue
            clip = _make_clip(
                values,
                video=video,
                id_base=id_base,
                depth=paths["depth"],
                state=paths["state"],
                default_embodiment=embodiment,
            )
        except FieldError as error:
            skipped.append(SkippedClip(fallback_id, str(table), "bad-row", f"{row.where}: {error}"))
            continue
        clips.append(clip)


def _path_field(values: Mapping[str, Any], name: str, base: Path, *, required: bool) -> Path | None:
    text = text_field(values, name, required=required)
    return None if text is None else _resolve(text, base)


def _resolve(text: str, base: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _relative_stem(video: Path, root: Path, base: Path) -> str:
    """The id base: the video's path without extension, relative to root (else the manifest's folder)."""
    for anchor in (root, base):
        try:
            return video.with_suffix("").relative_to(anchor).as_posix()
        except ValueError:
            continue
    return video.with_suffix("").as_posix()


def _make_clip(
    record: Mapping[str, Any],
    *,
    video: Path,
    id_base: str,
    depth: Path | None,
    state: Path | None,
    default_embodiment: str,
) -> ClipSpec:
    """A ClipSpec from a sidecar or manifest record; raises FieldError naming the first bad field."""
    instruction = text_field(record, "instruction")
    intrinsics = intrinsics_field(record, "intrinsics")
    embodiment = embodiment_field(record, "embodiment", default=default_embodiment)
    start, end = bounds_fields(record, "start_seconds", "end_seconds")
    source = text_field(record, "source", required=False) or DEFAULT_SOURCE
    video_id = _name_field(record, "video_id") or id_base
    explicit = _name_field(record, "clip_id")
    clip_id = safe_id(explicit) if explicit else bounded_id(id_base, start, end)
    extras = {key: value for key, value in record.items() if key not in RESERVED and not is_missing(value)}
    return ClipSpec(
        clip_id=clip_id,
        source=source,
        video_id=video_id,
        video_path=str(video),
        instruction=instruction or "",
        embodiment=embodiment,
        start_seconds=start,
        end_seconds=end,
        intrinsics=intrinsics,
        depth_path=None if depth is None else str(depth),
        state_path=None if state is None else str(state),
        extras=extras,
    )


def _name_field(record: Mapping[str, Any], name: str) -> str | None:
    """An identifier given as a string or an integer (JSON ids are often numbers)."""
    value = record.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text_field(record, name, required=False)


def bounded_id(base: str, start: float | None, end: float | None) -> str:
    """``safe_id(base)``, plus ``-s<start_ms>`` (0 when only the end is given) and ``-e<end_ms>`` for a bounded
    clip, so several clips of one video get distinct ids that stay the same across runs."""
    clip_id = safe_id(base)
    if start is None and end is None:
        return clip_id
    clip_id += f"-s{milliseconds(start or 0.0)}"
    return clip_id if end is None else f"{clip_id}-e{milliseconds(end)}"
