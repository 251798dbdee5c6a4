"""The ``weirflow`` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="weirflow", description="Concurrent data pipelines and data services."
    )
    parser.add_argument("--version", action="version", version=f"weirflow {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Example:
        >>> main([])
        0
    """
    build_parser().parse_args(argv)
    return 0
