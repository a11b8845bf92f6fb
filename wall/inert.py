"""User text made inert for deck.gl's JSON converter (one pass over a finished deck spec).

Streamlit hands a pydeck spec to deck.gl's ``JSONConverter``, which walks *every* value,
layer data included: a string starting with ``@@=`` is compiled as an accessor expression and
one starting with ``@@#`` is looked up as a constant (``@@#Math.PI`` throws). A case
description, area or category name typed that way would therefore run as code or, more often,
throw and blank the whole map for everyone whose filter includes it.

``inert_spec`` puts a zero-width space (U+200B) in front of every string in the spec that
starts with ``@@`` except the deck's own directives: the ``"@@type"`` keys and the values of
accessor props (``"get…":"@@=…"``). The converter then leaves the text alone; a person sees
the same characters (the tooltip shows them, the zero-width space is invisible). It works on
the JSON text, not on parsed objects, so it costs one scan instead of a parse and a
re-serialisation of a megabyte-sized spec.

Assumptions, both true of every deck built in ``wall/``: the spec was written by ``json.dumps``
(which never escapes ``@`` as ``\\u0040``), and layer data rows never use a key named
``@@type`` or ``get…`` (keys are chosen by code, never by users). A directive written some
other way (a non-accessor prop holding ``@@=``, a ``@@#`` constant) is neutralised too: that
fails loudly in the wall's tests instead of leaving a hole.
"""
from __future__ import annotations

import re

ZWSP = "\u200b"
_ACCESSOR_KEY = re.compile(r'[{,]"get[A-Za-z0-9]*":\Z')  # just before the value of an accessor prop


def _directive(spec: str, i: int) -> bool:
    """Whether the ``"@@`` at ``i`` is one of the deck's own, or not the start of a string."""
    before = spec[i - 1] if i else ""
    if before == "\\":
        return True  # an escaped quote inside a string (json.dumps writes \\ for a backslash)
    if spec.startswith('"@@type":', i) and before in "{,":
        return True
    return spec.startswith('"@@=', i) and _ACCESSOR_KEY.search(spec, max(0, i - 48), i) is not None


def inert_spec(spec: str) -> str:
    """``spec`` (deck JSON) with every ``@@`` string that is not a deck directive made inert.

    >>> inert_spec('{"layers":[{"@@type":"TextLayer","getText":"@@=n","data":[{"n":"@@#Math.PI"}]}]}')
    '{"layers":[{"@@type":"TextLayer","getText":"@@=n","data":[{"n":"\\u200b@@#Math.PI"}]}]}'
    """
    parts, start = [], 0
    i = spec.find('"@@')
    while i != -1:  # str.find, not a regular expression: a clean megabyte spec is scanned in ~1 ms
        if not _directive(spec, i):
            parts += (spec[start:i + 1], ZWSP)
            start = i + 1
        i = spec.find('"@@', i + 3)
    return "".join(parts) + spec[start:] if parts else spec


def inert_text(s: str) -> str:
    """One string as ``inert_spec`` leaves it (for text built outside a spec)."""
    return ZWSP + s if s.startswith("@@") else s
