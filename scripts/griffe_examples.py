"""A Griffe extension for the documentation site: weirflow's ``Example:`` sections are examples.

weirflow's docstrings head their runnable examples ``Example:`` (house style); Griffe's Google
parser knows that section only as ``Examples:`` and would render the doctest as plain text.
This extension renames the heading in each docstring before it is parsed. mkdocs.yml loads it
(``extensions: [scripts/griffe_examples.py]``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADING = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Reads ``Example:`` as ``Examples:`` in every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _HEADING.sub(r"\g<indent>Examples:", obj.docstring.value)
