"""The project's error root.

Every error DynaFLIP raises on purpose for a user to read (bad config, bad input file, unknown encoder, a
shard of another schema version...) derives from :class:`DynaflipError` as well as from the builtin it
always was (``ValueError``, ``RuntimeError``...), so existing ``except ValueError`` callers keep working.
CLIs catch this root (plus the OS errors a user causes: a missing or unwritable path) and print one line;
anything else, a CUDA out-of-memory ``RuntimeError`` included, keeps its traceback.
"""

from __future__ import annotations


class DynaflipError(Exception):
    """Base of every error meant for the user; its message names the file, the field and what was expected."""


#: The errors a CLI turns into one line and exit status 2: the project's own, and the OS errors a user causes.
USER_ERRORS: tuple[type[BaseException], ...] = (DynaflipError, OSError)
