"""Limits on what a manifest may hold, checked before and after parsing, each refusal one line naming the field.

A manifest comes from a submitter: it may be huge, nested 50,000 deep (Python's ``tomllib`` parses recursively
and would end in a ``RecursionError``), or carry characters that make a title display as something else
(:mod:`bench.results.unicode_safety`). These checks bound it:

* the file: at most :data:`MAX_MANIFEST_BYTES`;
* arrays and inline tables: nested at most :data:`MAX_NESTING` deep, found by :func:`nesting_problem` on the
  text *before* ``tomllib`` sees it;
* every string (keys too): at most :data:`MAX_STRING` characters, no bidirectional or control characters;
  every array and table at most :data:`MAX_ITEMS` items (:func:`value_problem`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from bench.results.unicode_safety import first_unsafe, neutralise

MAX_MANIFEST_BYTES = 64 * 1024
MAX_NESTING = 8
MAX_STRING = 2000
MAX_ITEMS = 256


@dataclass(frozen=True)
class Problem:
    """What is wrong with a manifest and where: ``field`` is its dotted path (``(top level)`` when none)."""

    field: str
    message: str


# ------------------------------------------------------------------------------------------ before parsing
_QUOTES = ('"""', "'''", '"', "'")


def _string_end(text: str, i: int, quote: str) -> int:
    """Index just past the string that opens at ``i`` with ``quote`` (end of text when unterminated)."""
    j = i + len(quote)
    escapes = quote.startswith('"')
    while j < len(text):
        if escapes and text[j] == "\\":
            j += 2
            continue
        if text.startswith(quote, j):
            return j + len(quote)
        if len(quote) == 1 and text[j] == "\n":
            return j
        j += 1
    return j


def _tokens(text: str) -> Iterator[tuple[int, str, int]]:
    """``(index, char, line)`` of every structural character outside strings and comments."""
    i, line = 0, 1
    while i < len(text):
        c = text[i]
        quote = next((q for q in _QUOTES if text.startswith(q, i)), None)
        if quote is not None:
            end = _string_end(text, i, quote)
            line += text.count("\n", i, end)
            i = end
            continue
        if c == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        yield i, c, line
        line += c == "\n"
        i += 1


def nesting_problem(text: str, limit: int = MAX_NESTING) -> Problem | None:
    """The first array or inline table of a TOML text nested deeper than ``limit``, with the field it belongs
    to (the key of the enclosing ``key = …`` line, under the current ``[table]``), else ``None``.

    >>> nesting_problem("a = 1\\n[t]\\nx = " + "[" * 9 + "]" * 9)
    Problem(field='t.x', message='arrays or inline tables nested more than 8 deep (line 3)')
    >>> nesting_problem('s = "[[[[[[[[[[[["  # [[[[[[[[[[') is None
    True
    """
    depth, table, key, start = 0, "", "", 0
    for i, c, line in _tokens(text):
        if c == "\n":
            start = i + 1
        elif c == "[" and depth == 0 and not text[start:i].strip():  # a [table] or [[array of tables]] header
            end = text.find("\n", i)
            table = text[i : len(text) if end < 0 else end].split("#")[0].strip().strip("[]").strip()
            key = ""
        elif c in "[{":
            depth += 1
            if depth > limit:
                where = ".".join(p for p in (table, key) if p) or "(top level)"
                return Problem(where, f"arrays or inline tables nested more than {limit} deep (line {line})")
        elif c in "]}":
            depth = max(0, depth - 1)
        elif c == "=" and depth == 0:
            key = text[start:i].strip().strip("\"'")
    return None


# ------------------------------------------------------------------------------------------ after parsing
def _text_problem(text: str, path: str) -> Problem | None:
    if len(text) > MAX_STRING:
        return Problem(path, f"a string of {len(text):,} characters; at most {MAX_STRING:,} are allowed")
    bad = first_unsafe(text)
    if bad is not None:
        return Problem(path, f"contains {bad}, which makes text display differently from what it is; remove it")
    return None


def value_problem(value: object, path: str = "", depth: int = 0) -> Problem | None:
    """The first string, key, array or table of a parsed manifest over the limits (see the module docstring).

    >>> value_problem({"title": "ok", "claimed": {"x": 0.5}}) is None
    True
    >>> value_problem({"defense": {"hyperparameters": {"tag": "a\\u202eb"}}}).field
    'defense.hyperparameters.tag'
    """
    where = path or "(top level)"
    if depth > MAX_NESTING:
        return Problem(where, f"values nested more than {MAX_NESTING} deep")
    if isinstance(value, str):
        return _text_problem(value, where)
    if isinstance(value, Mapping | list | tuple) and len(value) > MAX_ITEMS:
        return Problem(where, f"{len(value):,} items; at most {MAX_ITEMS} are allowed")
    if isinstance(value, Mapping):
        for k, v in value.items():
            key = neutralise(str(k))  # the error names the key without letting it reorder the message
            name = f"{path}.{key}" if path else key
            found = _text_problem(str(k), name) or value_problem(v, name, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = value_problem(v, f"{path}[{i}]", depth + 1)
            if found is not None:
                return found
    return None
