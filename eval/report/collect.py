"""Finding and reading results.json files, grouped by the encoder that produced them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..probe.sums import EPISODES_NAME, EpisodeSums
from ..results import ResultRow, calibration_role, read_results
from .episodes import Episodes, load_episodes

RESULTS_NAME = "results.json"
POLICY_KIND = "policy"
PROBE_KIND = "probe"


@dataclass
class ResultFile:
    """One results.json (see :mod:`dynaflip.eval.results`)."""

    path: Path
    kind: str
    encoder: dict[str, Any]
    config: dict[str, Any]
    rows: list[ResultRow]
    timing: dict[str, float]
    episodes: Episodes | None = None  # policy results: the rollouts.jsonl beside them
    sums: EpisodeSums | None = None  # probe results: the episodes.json beside them (None: absent, older runs)

    @property
    def seeds(self) -> list[Any] | None:
        """The repeated unit behind each row's ``values``: config["seeds"] as a list (an int n means seeds
        0..n-1), or None when the file does not record it."""
        seeds = self.config.get("seeds")
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            return list(range(seeds))
        if isinstance(seeds, list):
            return list(seeds)
        return None


@dataclass
class EncoderResults:
    """All result files of one encoder (same weights identity), with a display label unique in the report."""

    key: str
    label: str
    encoder: dict[str, Any]
    files: dict[str, ResultFile] = field(default_factory=dict)  # by kind

    @property
    def role(self) -> str | None:
        """'ceiling' (oracle:state) or 'floor' (blind) for the policy instrument's calibration runs, else None."""
        return calibration_role(self.encoder.get("spec"))


def find_result_files(paths: list[str | Path]) -> list[Path]:
    """The result files named by ``paths``: files as given, folders searched recursively for results.json."""
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            matches = sorted(path.rglob(RESULTS_NAME))
            if not matches:
                raise ValueError(f"{path}: no {RESULTS_NAME} in this folder or below it")
            found += matches
        else:
            raise ValueError(f"{path}: no such file or folder")
    if not found:
        raise ValueError("expected at least one results.json file or a folder containing one")
    return list(dict.fromkeys(path.resolve() for path in found))


def read_result_file(path: Path) -> ResultFile:
    try:
        data = read_results(path)
    except TypeError as error:  # a row with missing or unknown fields
        raise ValueError(f"{path}: field 'rows' is malformed ({error})") from None
    encoder = data["encoder"]
    if not isinstance(encoder, dict) or not encoder.get("name"):
        raise ValueError(f"{path}: field 'encoder' must name the encoder (expected encoder.name and encoder.spec)")
    kind, config = str(data["kind"]), data.get("config") or {}
    return ResultFile(
        path=path,
        kind=kind,
        encoder=encoder,
        config=config,
        rows=data["rows"],
        timing=data.get("timing") or {},
        episodes=load_episodes(path, config) if kind == POLICY_KIND else None,
        sums=_probe_sums(path) if kind == PROBE_KIND else None,
    )


def _probe_sums(results_path: Path) -> EpisodeSums | None:
    """The episodes.json beside a probe results.json; None when absent (the report then combines the recorded
    intervals, never pairs by seed alone). A present but broken file is an error naming it."""
    path = results_path.parent / EPISODES_NAME
    return EpisodeSums.read(path) if path.is_file() else None


def _shared_prefix(first: str, second: str) -> int:
    return next(
        (i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b), min(len(first), len(second))
    )


def _distinct_part(spec: str, others: list[str]) -> str:
    """The end of ``spec`` from the last separator before where it first differs from any of ``others``."""
    common = min((_shared_prefix(spec, other) for other in others), default=0)
    if common >= len(spec):  # the whole spec is the start of another one
        return spec
    start = max(spec.rfind(separator, 0, common) for separator in "?&/:,")
    return spec[start + 1 :] or spec


def _labels(encoders: list[dict[str, Any]]) -> list[str]:
    """Names where unique; else the name and the part of the spec that tells it apart (e.g. 'seed=1');
    else the name and the identity's prefix."""
    names = [encoder["name"] for encoder in encoders]
    specs = [encoder.get("spec") or encoder["name"] for encoder in encoders]
    labels = []
    for index, encoder in enumerate(encoders):
        twins = [specs[i] for i in range(len(encoders)) if names[i] == names[index] and i != index]
        if not twins:
            labels.append(names[index])
        elif specs[index] not in twins:
            labels.append(f"{names[index]} {_distinct_part(specs[index], twins)}")
        else:
            labels.append(f"{names[index]} [{str(encoder.get('identity', index))[:8]}]")
    if len(set(labels)) < len(labels):  # distinct parts that still collide: add the identity prefix
        labels = [f"{label} [{str(encoders[i].get('identity', i))[:8]}]" for i, label in enumerate(labels)]
    return labels


def collect(paths: list[str | Path]) -> list[EncoderResults]:
    """Read every result file under ``paths`` and group them per encoder, in the order first seen.

    One file per (encoder, kind): two probe or two policy results of the same weights are ambiguous.
    """
    groups: dict[str, EncoderResults] = {}
    for path in find_result_files(paths):
        result = read_result_file(path)
        key = str(result.encoder.get("identity") or result.encoder.get("spec") or result.encoder["name"])
        group = groups.setdefault(key, EncoderResults(key=key, label="", encoder=result.encoder))
        if result.kind in group.files:
            raise ValueError(
                f"{path}: encoder '{result.encoder['name']}' already has {result.kind} results in "
                f"{group.files[result.kind].path}; pass one {result.kind} result per encoder"
            )
        group.files[result.kind] = result
    encoders = list(groups.values())
    for group, label in zip(encoders, _labels([group.encoder for group in encoders]), strict=True):
        group.label = label
    return encoders


def default_baseline(encoders: list[EncoderResults]) -> EncoderResults | None:
    """The first encoder that is not a calibration run (None when every one is)."""
    return next((encoder for encoder in encoders if encoder.role is None), None)


def find_baseline(encoders: list[EncoderResults], name: str) -> EncoderResults:
    """:func:`find_encoder`, refusing the calibration runs: the ceiling and floor are not competitors."""
    encoder = find_encoder(encoders, name)
    if encoder.role is not None:
        raise ValueError(
            f"--baseline '{name}': '{encoder.label}' is the instrument's calibration {encoder.role} "
            f"({encoder.encoder.get('spec')}), shown beside the encoders but never a baseline; name an encoder"
        )
    return encoder


def find_encoder(encoders: list[EncoderResults], name: str) -> EncoderResults:
    """The encoder whose label, name, spec or identity (prefix) is ``name``; a clear error otherwise."""
    for test in (
        lambda e: e.label == name,
        lambda e: e.encoder.get("name") == name,
        lambda e: e.encoder.get("spec") == name,
        lambda e: str(e.encoder.get("identity", "")).startswith(name) and len(name) >= 4,
    ):
        matches = [encoder for encoder in encoders if test(encoder)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ValueError(f"--baseline '{name}': matches several encoders ({', '.join(m.label for m in matches)})")
    known = ", ".join(f"'{encoder.label}'" for encoder in encoders)
    raise ValueError(f"--baseline '{name}': no such encoder in the results; known: {known}")
