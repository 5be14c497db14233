"""Shard planning and writing.

The clip list (sorted by clip id) is cut into fixed groups of ``clips_per_shard``; shard i always holds the
same clips, whoever writes it. A shard is written under a temporary name and renamed when complete, then
its record (``records/shard-NNNNNN.json``: keys, counts, skips, timings) is written; a shard counts as done
only when its record exists. A rerun after a kill therefore redoes at most the shards that were in flight,
and produces exactly the same keys, none twice. (webdataset's ShardWriter rolls over to a new file by
sample count, which would tie shard boundaries to how many samples the filters keep; one TarWriter per
planned shard keeps them fixed.)

A record also holds the fingerprint of each clip's inputs (:func:`clip_inputs`: the annotation, and the
size and modification time of the video, depth and state files). A rerun re-extracts a finished shard when
any of them changed (a corrected sidecar, a re-encoded video, a new depth file) and says which.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynaflip.io import atomic_write_json
from dynaflip.schema import encode_sample

from .clip_processor import ClipProcessor, ClipResult, Skip
from .clips import ClipSpec

RECORDS_DIR = "records"


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.tar"


@dataclass
class ShardPlan:
    index: int
    clips: list[ClipSpec]

    @property
    def name(self) -> str:
        return shard_name(self.index)


def plan_shards(clips: list[ClipSpec], *, clips_per_shard: int) -> list[ShardPlan]:
    if clips_per_shard < 1:
        raise ValueError(f"output.clips_per_shard: expected >= 1, got {clips_per_shard}")
    return [
        ShardPlan(index=i, clips=clips[start : start + clips_per_shard])
        for i, start in enumerate(range(0, len(clips), clips_per_shard))
    ]


def record_path(out_dir: Path, name: str) -> Path:
    return out_dir / RECORDS_DIR / f"{Path(name).stem}.json"


def clip_inputs(clip: ClipSpec) -> dict[str, str]:
    """What determines a clip's samples besides the config: the annotation (every ClipSpec field: instruction,
    intrinsics, bounds, embodiment, extras, paths) and each input file's size and modification time (hashing
    video bytes would cost as much as decoding them). Keys: annotation, video, depth, state."""
    spec = {name: getattr(clip, name) for name in sorted(clip.__dataclass_fields__)}
    annotation = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {
        "annotation": annotation,
        "video": _file_stamp(clip.video_path),
        "depth": _file_stamp(clip.depth_path),
        "state": _file_stamp(clip.state_path),
    }


def _file_stamp(path: str | None) -> str:
    if path is None:
        return "none"
    try:
        stat = os.stat(path)
    except OSError:
        return "missing"
    return f"{stat.st_size}-{stat.st_mtime_ns}"


@dataclass
class ShardStatus:
    done: bool
    changed: dict[str, list[str]]  # clip id -> the inputs that changed since the shard was written


def shard_status(
    out_dir: Path, plan: ShardPlan, inputs: dict[str, dict[str, str]], *, shard_present: bool | None = None
) -> ShardStatus:
    """Whether the shard is finished and was made from the clips' current ``inputs`` (see :func:`clip_inputs`).
    ``shard_present``: whether the shard exists where it is published (a remote --out), instead of on disk."""
    present = (out_dir / plan.name).is_file() if shard_present is None else shard_present
    if not (present and record_path(out_dir, plan.name).is_file()):
        return ShardStatus(done=False, changed={})
    recorded = load_record(record_path(out_dir, plan.name)).inputs
    changed: dict[str, list[str]] = {}
    for clip in plan.clips:
        before, now = recorded.get(clip.clip_id), inputs[clip.clip_id]
        if before is None:
            changed[clip.clip_id] = ["unknown (no fingerprint in the shard record)"]
        elif before != now:
            changed[clip.clip_id] = [name for name in now if before.get(name) != now[name]]
    return ShardStatus(done=not changed, changed=changed)


def remove_stale_temporaries(out_dir: Path, plan: ShardPlan) -> None:
    """Temporary files a killed run left for this shard (only the node that owns a shard writes it)."""
    for temp in out_dir.glob(f".{plan.name}.tmp-*"):
        temp.unlink(missing_ok=True)


@dataclass
class ShardRecord:
    name: str
    index: int
    clips: int
    samples: int
    keys: list[str]
    skipped: list[dict[str, str]]
    seconds: dict[str, float]
    bytes: int
    finished: float = field(default_factory=time.time)
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)  # clip id -> clip_inputs() when written
    replaced: dict[str, list[str]] = field(default_factory=dict)  # clip id -> inputs changed since the last write

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def load_record(path: Path) -> ShardRecord:
    return ShardRecord(**json.loads(path.read_text()))


def write_shard(
    plan: ShardPlan,
    processor: ClipProcessor,
    out_dir: Path,
    *,
    on_clip: Callable[[int, list[str]], None] | None = None,
    replaced: dict[str, list[str]] | None = None,
    remote: str | None = None,
) -> ShardRecord:
    """Process the shard's clips and write ``shard-NNNNNN.tar`` atomically, then its record. ``replaced``
    (clip id -> changed inputs) says why an earlier version of the shard is being replaced. ``remote``: the
    ``--out`` URL the shard, then its record, are uploaded to (see remote_out.py)."""
    import webdataset as wds

    inputs = {clip.clip_id: clip_inputs(clip) for clip in plan.clips}  # before reading: a later edit is seen next run

    output = processor.config.output
    final = out_dir / plan.name
    temp = out_dir / f".{plan.name}.tmp-{socket.gethostname()}-{os.getpid()}"
    keys: list[str] = []
    skipped: list[dict[str, str]] = []
    seconds: dict[str, float] = {}
    try:
        with wds.TarWriter(str(temp)) as writer:
            for clip in plan.clips:
                result = _process_safely(processor, clip)
                clock = time.perf_counter()
                for triplet in result.triplets:
                    writer.write(
                        encode_sample(triplet, image_format=output.image_format, jpeg_quality=output.jpeg_quality)
                    )
                    keys.append(triplet.key)
                result.seconds["write"] += time.perf_counter() - clock
                for name, value in result.seconds.items():
                    seconds[name] = seconds.get(name, 0.0) + value
                skipped += [{"clip_id": s.clip_id, "reason": s.reason, "detail": s.detail} for s in result.skips]
                if on_clip is not None:
                    on_clip(len(result.triplets), [skip.reason for skip in result.skips])
        os.replace(temp, final)
    finally:
        if temp.exists():
            temp.unlink()
    record = ShardRecord(
        name=plan.name,
        index=plan.index,
        clips=len(plan.clips),
        samples=len(keys),
        keys=keys,
        skipped=skipped,
        seconds=seconds,
        bytes=final.stat().st_size,
        inputs=inputs,
        replaced=dict(replaced or {}),
    )
    if remote is not None:
        from .remote_out import publish_shard

        publish_shard(remote, final)
    atomic_write_json(record_path(out_dir, plan.name), record.to_dict())
    if remote is not None:
        from .remote_out import publish_record

        publish_record(remote, record_path(out_dir, plan.name))
    return record


def _process_safely(processor: ClipProcessor, clip: ClipSpec) -> ClipResult:
    """A clip that breaks the extractor in an unforeseen way is skipped and counted, never fatal."""
    try:
        return processor.process(clip)
    except Exception as error:
        last = traceback.extract_tb(error.__traceback__)[-1]
        result = ClipResult()
        result.skips.append(
            Skip(
                clip.clip_id,
                "extraction-error",
                f"{clip.video_path}: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''} "
                f"(at {Path(last.filename).name}:{last.lineno})",
            )
        )
        return result


def plan_fingerprint(clips: list[ClipSpec], config_data: dict[str, Any]) -> str:
    """Identifies the layout of an output folder: the settings that shape samples and which clip (id and
    video) goes into which shard. What the clips contain is checked per shard (:func:`shard_status`)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(config_data, sort_keys=True, default=str).encode())
    for clip in clips:
        # Resolved: the same folder given as a relative or an absolute path is the same plan.
        digest.update(f"{clip.clip_id}\0{Path(clip.video_path).resolve()}\n".encode())
    return digest.hexdigest()[:16]
