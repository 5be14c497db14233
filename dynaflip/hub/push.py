"""Publish an export folder to the Hugging Face Hub (``create_repo`` then ``upload_folder``)."""

from __future__ import annotations

from pathlib import Path

from .cache import is_offline, offline_variable
from .errors import PushError
from .format import CONFIG_FILE, WEIGHTS_FILE
from .hf import HF_PREFIX, parse_hf_spec
from .verify import CARD_FILE, verify_export_folder

UPLOADED = [CONFIG_FILE, WEIGHTS_FILE, CARD_FILE]


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Upload ``folder`` (checked first) to the model repository ``repo_id``; the commit URL.

    ``token``/``endpoint`` default to huggingface_hub's (``hf auth login``, ``$HF_TOKEN``, ``$HF_ENDPOINT``).
    """
    folder = Path(folder)
    try:
        parse_hf_spec(repo_id)
    except ValueError:
        raise PushError(f"--push {repo_id!r}: expected a Hugging Face repository id org/name") from None
    config = verify_export_folder(folder, require_card=True)
    target = f"{HF_PREFIX}{repo_id}"
    if is_offline():
        raise PushError(
            f"cannot push {folder} to {target}: offline mode is on ({offline_variable()}=1); "
            "unset it (and log in with `hf auth login`) to publish"
        )
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    message = commit_message or f"Upload DynaFLIP image encoder (weights sha256 {config['weights_sha256'][:12]})"
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), allow_patterns=UPLOADED, commit_message=message
        )
    except Exception as error:  # the hub client raises many types (HTTP, auth, offline, validation): all stop here
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise PushError(f"cannot push {folder} to {target}: {type(error).__name__}: {first_line}") from error
    return str(getattr(info, "commit_url", None) or f"https://huggingface.co/{repo_id}")
