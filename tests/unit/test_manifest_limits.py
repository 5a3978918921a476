"""Hostile manifests (issue 22, item 7): a deep nesting, bidirectional and control characters, oversized files,
strings and lists each end in one line naming the file and the field, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.manifest import ManifestError, load_manifest, parse_manifest
from bench.manifest_limits import MAX_ITEMS, MAX_MANIFEST_BYTES, MAX_NESTING, MAX_STRING, nesting_problem
from bench.results.unicode_safety import BIDI_CONTROLS, first_unsafe, neutralise

HEAD = 'name = "x"\ntitle = "t"\nauthors = "a"\ntrack = "mnist5k"\n'
RECIPE = HEAD + '[defense]\nname = "standard"\n'
NAME = 'name = "standard"'


def _refusal(tmp_path: Path, text: str) -> str:
    (tmp_path / "entry.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path, submission=True)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "entry.toml") in message, message
    return message


def test_a_50000_deep_array_is_refused_by_the_size_cap_in_one_line(tmp_path: Path) -> None:
    message = _refusal(tmp_path, RECIPE + "hyperparameters = { x = " + "[" * 50_000 + "]" * 50_000 + " }\n")
    assert f"larger than {MAX_MANIFEST_BYTES:,} bytes" in message


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("hyperparameters = { x = " + "[" * 20_000 + "]" * 20_000 + " }", "defense.hyperparameters"),
        ("hyperparameters = { x = " + "{a = " * 5_000 + "1" + "}" * 5_000 + " }", "defense.hyperparameters"),
        ("\n[claimed]\nclean_accuracy = " + "[" * 9 + "]" * 9, "claimed.clean_accuracy"),
    ],
    ids=["arrays-20000-deep", "inline-tables-5000-deep", "arrays-9-deep"],
)
def test_deep_nesting_names_the_field_and_line_without_a_recursion_error(
    tmp_path: Path, value: str, field: str
) -> None:
    message = _refusal(tmp_path, RECIPE + value + "\n")
    assert f"field '{field}': arrays or inline tables nested more than {MAX_NESTING} deep (line " in message


def test_brackets_inside_strings_and_comments_are_not_nesting() -> None:
    text = "s = \"[[[[[[[[[[[[\" # [[[[[[[[[[[[\nt = '''[[[[[[[[[[\n[[[[[[[['''\n[tab]\nu = [[1], [2]]\n"
    assert nesting_problem(text) is None
    assert nesting_problem("[[a]]\nb = " + "[" * 9) is not None


@pytest.mark.parametrize("char", sorted(BIDI_CONTROLS), ids=lambda c: f"U+{ord(c):04X}")
def test_every_bidi_control_in_a_title_is_refused_naming_it(tmp_path: Path, char: str) -> None:
    message = _refusal(tmp_path, RECIPE.replace('title = "t"', f'title = "report{char}fdp.exe"'))
    assert "field 'title': contains " + f"U+{ord(char):04X}" in message


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (('authors = "a"', 'authors = "a\u202eb"'), "authors"),
        (('authors = "a"', 'authors = "a"\ndescription = "d\u2067e"'), "description"),
        ((NAME, NAME + '\nhyperparameters = { tag = "x\u200fy" }'), "defense.hyperparameters.tag"),
        ((NAME, NAME + '\nhyperparameters = { "k\u202d" = 1 }'), "defense.hyperparameters.k\ufffd"),
        (('authors = "a"', 'authors = "a\\u0000b"'), "authors"),
        (('authors = "a"', 'authors = "a\\u0085b"'), "authors"),
    ],
    ids=["authors-rlo", "description-rli", "hyperparameter-value-rlm", "hyperparameter-key-lro", "nul", "c1-control"],
)
def test_bidi_and_control_characters_anywhere_are_refused_naming_the_field(
    tmp_path: Path, edit: tuple[str, str], field: str
) -> None:
    message = _refusal(tmp_path, RECIPE.replace(*edit))
    assert f"field '{field}': contains U+" in message


def test_tabs_and_line_breaks_are_allowed(tmp_path: Path) -> None:
    text = HEAD + 'description = """two\n\tlines"""\n[defense]\nname = "standard"\n'
    (tmp_path / "entry.toml").write_text(text)
    assert load_manifest(tmp_path).description == "two\n\tlines"


@pytest.mark.parametrize(
    ("extra", "field", "hint"),
    [
        (f'hyperparameters = {{ tag = "{"x" * (MAX_STRING + 1)}" }}', "defense.hyperparameters.tag", "at most 2,000"),
        (
            f"hyperparameters = {{ grid = [{', '.join(['0.1'] * (MAX_ITEMS + 1))}] }}",
            "defense.hyperparameters.grid",
            "at most 256",
        ),
        (
            "hyperparameters = { " + ", ".join(f"k{i} = 1" for i in range(MAX_ITEMS + 1)) + " }",
            "defense.hyperparameters",
            "257 items",
        ),
    ],
    ids=["long-string", "long-list", "wide-table"],
)
def test_oversized_strings_lists_and_tables_are_refused_naming_the_field(
    tmp_path: Path, extra: str, field: str, hint: str
) -> None:
    message = _refusal(tmp_path, RECIPE + extra + "\n")
    assert f"field '{field}'" in message and hint in message


def test_a_payload_dict_is_checked_as_well() -> None:
    with pytest.raises(ManifestError, match=r"field 'title': contains U\+2066"):
        parse_manifest({"name": "x", "title": "\u2066t", "authors": "a", "track": "mnist5k", "defense": {"name": "s"}})


def test_unsafe_characters_are_named_and_neutralised() -> None:
    assert first_unsafe("exe.\u202etxt") == "U+202E RIGHT-TO-LEFT OVERRIDE"
    assert first_unsafe("\x07") == "U+0007 control character"
    assert first_unsafe("ε = 0.3 — Madry et al.\n") is None
    assert neutralise("a\u202eb\u061cc\td") == "a\ufffdb\ufffdc\td"
    assert all(neutralise(c) == "\ufffd" for c in BIDI_CONTROLS)
    assert neutralise("plain") == "plain"
