"""Export folders packed as ``.tar``, ``.tar.gz``/``.tgz`` or ``.zip``: safe extraction into the cache.

An archive is extracted once into ``<cache>/archives/<archive sha256>/`` (the export folder at the top,
whether the archive holds it at its root or inside one folder), after checking the weights against the
``config.json`` inside; extraction goes to a temporary folder that is renamed into place, under a lock.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .cache import cache_root
from .checksum import file_sha256
from .format import CONFIG_FILE, ExportFormatError
from .lock import file_lock
from .verify import verify_export_folder

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def extract_export_archive(
    archive: str | Path, *, cache_dir: str | Path | None = None, sha256: str | None = None
) -> Path:
    """The cached export folder of ``archive`` (``sha256``: its known digest, to skip hashing it)."""
    archive = Path(archive)
    digest = sha256 or file_sha256(archive)
    root = cache_root(cache_dir) / "archives"
    target = root / digest
    if (target / CONFIG_FILE).is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / f"{digest}.lock"):
        if (target / CONFIG_FILE).is_file():
            return target
        # Cleanup errors are ignored: when the archive holds the files at its root, the temporary folder
        # itself is what gets renamed into place.
        with tempfile.TemporaryDirectory(prefix=f".{digest[:16]}.", dir=root, ignore_cleanup_errors=True) as temp:
            _extract(archive, Path(temp))
            folder = _export_root(Path(temp), archive)
            verify_export_folder(folder)
            if target.exists():  # a leftover without config.json (interrupted by hand): replace it
                shutil.rmtree(target)
            folder.rename(target)
    return target


def _extract(archive: Path, out: Path) -> None:
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as bundle:
                for member in bundle.namelist():
                    _check_member(archive, member, plain=True)
                bundle.extractall(out)
        else:
            with tarfile.open(archive) as bundle:
                if hasattr(tarfile, "data_filter"):
                    # The "data" filter refuses absolute paths, links out of the folder and device files.
                    bundle.extractall(out, filter="data")
                else:  # Python < 3.10.12 / 3.11.4: only plain files and folders at safe paths
                    for member in bundle.getmembers():
                        _check_member(archive, member.name, plain=member.isfile() or member.isdir())
                    bundle.extractall(out)
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as error:
        raise ExportFormatError(f"{archive}: cannot extract ({error})") from None


def _check_member(archive: Path, name: str, *, plain: bool) -> None:
    path = PurePosixPath(name)
    if not plain or path.is_absolute() or ".." in path.parts:
        raise ExportFormatError(f"{archive}: unsafe member {name!r} (only files and folders inside the archive)")


def _export_root(folder: Path, archive: Path) -> Path:
    """The folder holding ``config.json``: the archive's root or its single top-level folder."""
    if (folder / CONFIG_FILE).is_file():
        return folder
    children = [child for child in folder.iterdir() if not child.name.startswith(".")]
    if len(children) == 1 and (children[0] / CONFIG_FILE).is_file():
        return children[0]
    raise ExportFormatError(
        f"{archive}: no {CONFIG_FILE} at the top of the archive or in its single top-level folder "
        "(expected an archived export folder)"
    )
