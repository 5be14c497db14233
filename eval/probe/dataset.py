"""Reading a finished probe dataset: its manifest, and each split's labels and images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .labels import INDEX_KEYS, LABEL_KEYS
from .manifest import ProbeDataError, read_manifest
from .splits import OOD_PREFIX, TEST_ID, TRAIN, VAL


class ProbeDataset:
    """A folder written by :func:`~dynaflip.eval.probe.build.build_probe_dataset` (checked on open).

    Splits: ``train``, ``val``, ``test-id`` and ``test-<shift>`` per OOD shift; each is ``<split>.npz``
    with ``rgb`` (N, S, S, 3) uint8 and the label arrays of :mod:`.labels`.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.manifest: dict[str, Any] = read_manifest(self.root)
        self._labels: dict[str, dict[str, np.ndarray]] = {}
        for split in (TRAIN, VAL, TEST_ID):
            if split not in self.manifest["splits"]:
                raise ProbeDataError(f"probe data: '{self.root / 'dataset.json'}' field 'splits' lacks '{split}'")

    @property
    def dataset_id(self) -> str:
        return str(self.manifest["dataset_id"])

    @property
    def tasks(self) -> list[str]:
        return list(self.manifest["tasks"])

    @property
    def test_splits(self) -> list[str]:
        """test-id first, then the OOD splits in manifest order."""
        ood = [split for split in self.manifest["splits"] if split.startswith(OOD_PREFIX) and split != TEST_ID]
        return [TEST_ID, *ood]

    def shift(self, split: str) -> str | None:
        """The OOD shift a split re-renders under (None for train, val and test-id)."""
        return self.manifest["splits"][split].get("shift")

    def relabelled(self, split: str) -> list[str]:
        """Label keys recomputed for this split's view (see :data:`.labels.VIEW_LABELS`); older datasets: none."""
        return list(self.manifest["splits"][split].get("relabelled", []))

    def num_frames(self, split: str) -> int:
        return int(self.manifest["splits"][split]["frames"])

    def _file(self, split: str) -> Path:
        if split not in self.manifest["splits"]:
            raise ProbeDataError(
                f"probe data: no split '{split}' in '{self.root}' (has {list(self.manifest['splits'])})"
            )
        return self.root / self.manifest["splits"][split]["file"]

    def labels(self, split: str) -> dict[str, np.ndarray]:
        """Label and index arrays of a split (loaded once; images are not loaded)."""
        if split not in self._labels:
            with np.load(self._file(split), allow_pickle=False) as data:
                missing = [key for key in (*LABEL_KEYS, *INDEX_KEYS) if key not in data.files]
                if missing:
                    raise ProbeDataError(f"probe data: '{self._file(split)}' lacks the arrays {missing}")
                self._labels[split] = {key: data[key] for key in (*LABEL_KEYS, *INDEX_KEYS)}
        return self._labels[split]

    def images(self, split: str) -> np.ndarray:
        """(N, S, S, 3) uint8 frames of a split (read from disk on every call)."""
        with np.load(self._file(split), allow_pickle=False) as data:
            return data["rgb"]
