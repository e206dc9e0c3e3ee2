"""Griffe extension for the API reference: Sphinx conventions that SB3-style docstrings use.

mkdocstrings parses the ``:param x:`` / ``:return:`` / ``:raises X:`` fields itself (``docstring_style:
sphinx``). This extension covers the rest, once the package is loaded:

* inline roles (``:class:`~sb3_dreamer.Dreamer```, ``:meth:``, ``:func:``, ``:data:``, ``:attr:``, ``:mod:``,
  ``:exc:``, ``:obj:``) become code spans of the target (its last component with ``~``), instead of
  showing the role's markup;
* a paragraph that ends with ``::`` (a reStructuredText literal block) ends with ``:``;
* module and class attributes documented by ``#:`` comments above them (Sphinx autodoc's convention, used
  throughout ``sb3_dreamer``) get those comments as docstrings.

Loaded by ``mkdocs.yml`` (``extensions: [docs/ext/griffe_sphinx.py]``, a path relative to the folder
``mkdocs`` runs in, the repository root).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(class|meth|func|data|attr|mod|exc|obj):`(~?)([^`]+)`")
LITERAL_BLOCK = re.compile(r"::\n\n", re.MULTILINE)


def _role(match: re.Match[str]) -> str:
    kind, tilde, target = match.groups()
    target = target.strip()
    if tilde:
        target = target.rsplit(".", 1)[-1]
    if kind in ("meth", "func") and not target.endswith(")"):
        target += "()"
    return f"`{target}`"


def convert(text: str) -> str:
    """A docstring with Sphinx roles and literal-block markers turned into Markdown."""
    return LITERAL_BLOCK.sub(":\n\n", ROLE.sub(_role, text))


def _comment_docstring(attr: griffe.Object) -> str | None:
    """The ``#:`` comment lines right above an attribute's first line, or None."""
    if attr.lineno is None or attr.filepath is None:
        return None
    try:
        lines = attr.lines_collection[attr.filepath]  # type: ignore[index]
    except KeyError:
        return None
    comment: list[str] = []
    index = attr.lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        comment.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    return "\n".join(comment) or None


class SphinxConventions(griffe.Extension):
    """Apply :func:`convert` to every docstring and read ``#:`` attribute comments (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """Walk the loaded package once it is complete."""
        self._walk(pkg, loader, set())

    def _walk(self, obj: griffe.Object, loader: griffe.GriffeLoader, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.is_attribute and obj.docstring is None:
            text = _comment_docstring(obj)
            if text:
                obj.docstring = griffe.Docstring(
                    text,
                    lineno=obj.lineno,
                    endlineno=obj.lineno,
                    parent=obj,
                    parser=loader.docstring_parser,
                    parser_options=loader.docstring_options,
                )
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, loader, seen)  # type: ignore[arg-type]
