"""The errors of the pretrained hub. Every message is meant for the user: it names the source and what to do."""

from __future__ import annotations

from dynaflip.errors import DynaflipError


class HubError(DynaflipError, RuntimeError):
    """Base class: an encoder could not be found, fetched, verified or published."""


class DownloadError(HubError):
    """A transfer failed (HTTP status, connection, interrupted body); the message names the URL."""


class ChecksumError(DownloadError):
    """Downloaded or extracted bytes do not match their expected sha256; nothing unverified is cached."""


class OfflineError(DownloadError):
    """Offline mode is on (``DYNAFLIP_OFFLINE``/``HF_HUB_OFFLINE``) and the file is not in the cache."""


class UnknownModelError(HubError, LookupError):
    """A name is neither a path, a URL, an ``hf-hub:`` id nor a registry entry."""


class WeightsNotAvailableError(HubError):
    """The registry knows the encoder but its weights are not published (yet)."""


class RegistryError(HubError, ValueError):
    """The registry file is malformed; the message names the file, the entry and the field."""


class PushError(HubError):
    """Publishing an export folder to the Hugging Face Hub failed."""


class UnverifiedDownloadWarning(UserWarning):
    """An archive was downloaded without a pinned checksum (no ``#sha256=`` fragment)."""
