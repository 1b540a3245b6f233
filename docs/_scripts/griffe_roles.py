"""Griffe extension of the API reference: the docstrings' Sphinx roles and literal-block markers as Markdown.

``:class:`~pkg.mod.Name``` becomes ```Name```, ``:func:`pkg.f``` becomes ```pkg.f```, and a paragraph
ending in ``::`` ends in ``:`` (the indented block after it is a code block in Markdown too).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|data|mod|meth|attr|obj|exc):`(~?)([^`]+)`")


def markdown(text: str) -> str:
    """``text`` with Sphinx roles as code spans and ``::`` literal-block markers as colons."""
    text = ROLE.sub(lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", text)
    return re.sub(r"::$", ":", text, flags=re.MULTILINE)


class SphinxRoles(griffe.Extension):
    """Rewrite every loaded object's docstring with :func:`markdown`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
