"""Characters that make text display differently from what it is: refused in user text, neutralised in pages.

Unicode's bidirectional controls (Unicode Standard Annex #9, https://www.unicode.org/reports/tr9/, §2) reorder
the characters around them when displayed: a right-to-left override (U+202E) makes ``txt.exe`` of
``exe.txt`` ("Trojan Source", Boucher & Anderson 2021, https://trojansource.codes/). Control characters (C0
and C1, apart from tab and line breaks) have no business in a title or a name either. Admission refuses a
manifest whose strings hold any of them (:func:`first_unsafe`), naming the field; the site replaces any that
reach it from a record with U+FFFD (:func:`neutralise`), so a page never renders them as formatting.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

BIDI_CONTROLS: frozenset[str] = frozenset(
    "\u061c\u200e\u200f" + "".join(map(chr, range(0x202A, 0x202F))) + "".join(map(chr, range(0x2066, 0x206A)))
)
"""ALM, LRM, RLM, the embeddings and overrides LRE RLE PDF LRO RLO (U+202A-U+202E) and the isolates LRI RLI
FSI PDI (U+2066-U+2069): every explicit bidirectional formatting character of UAX #9."""

ALLOWED_CONTROLS = frozenset("\t\n\r")
REPLACEMENT = "\ufffd"


def is_unsafe(char: str) -> bool:
    """A bidirectional control, or a C0/C1 control character other than tab, line feed and carriage return."""
    return char in BIDI_CONTROLS or (unicodedata.category(char) == "Cc" and char not in ALLOWED_CONTROLS)


def first_unsafe(text: str) -> str | None:
    """The first unsafe character of ``text`` written for a reader (``U+202E RIGHT-TO-LEFT OVERRIDE``), else
    ``None``.

    >>> first_unsafe("admin\\u202etxt.exe")
    'U+202E RIGHT-TO-LEFT OVERRIDE'
    >>> first_unsafe("Madry et al.\\n(ICLR 2018)") is None
    True
    """
    for char in text:
        if is_unsafe(char):
            return f"U+{ord(char):04X} {unicodedata.name(char, 'control character')}"
    return None


_TABLE: Mapping[int, str] = {ord(c): REPLACEMENT for c in BIDI_CONTROLS} | {
    c: REPLACEMENT for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)) if chr(c) not in ALLOWED_CONTROLS
}


def neutralise(text: str) -> str:
    """``text`` with every unsafe character replaced by U+FFFD (visible, and no formatting effect).

    >>> neutralise("a\\u202eb\\u2066c\\x00d")
    'a\\ufffdb\\ufffdc\\ufffdd'
    """
    return text.translate(_TABLE)
