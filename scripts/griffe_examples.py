"""A Griffe extension for the documentation site: weirflow's docstrings, read as Markdown.

weirflow's docstrings follow the house style: runnable examples under ``Example:``, references
as Sphinx roles (``:class:`~weirflow.ConfigError```), literal blocks after ``::``. Griffe's
Google parser knows the examples section only as ``Examples:``, and Markdown knows no roles, so
before each docstring is parsed this extension renames the heading, turns each role into code
(``ConfigError``, the last part when the target starts with ``~``) and ``::`` into ``:``.
mkdocs.yml loads it (``extensions: [scripts/griffe_examples.py]``).

Example:
    >>> as_markdown("Raises :class:`~weirflow.ConfigError`; see :func:`weirflow.run`::")
    'Raises `ConfigError`; see `weirflow.run`:'
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADING = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$", re.MULTILINE)
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):`(?P<tilde>~?)(?P<target>[^`]+)`")
_LITERAL = re.compile(r"(?<=\S)::[ \t]*$", re.MULTILINE)


def _code(match: re.Match[str]) -> str:
    target = match["target"]
    return f"`{target.rsplit('.', 1)[-1] if match['tilde'] else target}`"


def as_markdown(text: str) -> str:
    """``text`` with ``Example:`` as ``Examples:``, roles as code and ``::`` as ``:``."""
    text = _HEADING.sub(r"\g<indent>Examples:", text)
    text = _ROLE.sub(_code, text)
    return _LITERAL.sub(":", text)


class ExampleSections(griffe.Extension):
    """Reads every docstring of the API reference as :func:`as_markdown` makes it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = as_markdown(obj.docstring.value)
