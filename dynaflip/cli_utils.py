"""Command-line helpers shared by the stages' CLIs."""

from __future__ import annotations

import argparse


def parse_with_overrides(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``, collecting ``key=value`` config overrides wherever they appear.

    argparse stops filling a trailing ``nargs="*"`` positional once an option follows it, so overrides
    placed after options would be rejected; they are gathered here instead. Parsers declare a positional
    ``overrides`` (for --help); other unknown arguments are still errors.
    """
    args, unknown = parser.parse_known_args(argv)
    extra = [item for item in unknown if "=" in item and not item.startswith("-")]
    rest = [item for item in unknown if item not in extra]
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.overrides = [*getattr(args, "overrides", []), *extra]
    return args
