"""The error a tracker raises when it cannot be used on this machine."""

from __future__ import annotations

from dynaflip.errors import DynaflipError


class TrackerUnavailable(DynaflipError, RuntimeError):
    """A tracking backend's package, weights or device is missing; the message says what and how to get it."""
