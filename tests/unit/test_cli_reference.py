"""docs/reference/cli.md carries every command's real ``--help`` (ocibuild/_docgen.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ocibuild import _docgen, cli

if TYPE_CHECKING:
    from pathlib import Path

FIX = "run `python -m ocibuild._docgen` and commit docs/reference/cli.md"


def test_reference_matches_the_parsers_help() -> None:
    document = _docgen.REFERENCE.read_text(encoding="utf-8")
    recorded = _docgen.recorded_version(document)
    if recorded != _docgen.python_version():
        pytest.skip(f"help written with Python {recorded}; argparse's layout differs here")
    assert _docgen.render(document, _docgen.help_texts()) == document, (
        f"docs/reference/cli.md differs from `ocibuild COMMAND --help`: {FIX}"
    )


def test_every_command_has_help_from_the_parser() -> None:
    helps = _docgen.help_texts()
    assert set(helps) == {_docgen.TOP, *cli._COMMANDS}
    assert helps["build"][1].startswith("usage: ocibuild build ")
    assert all(
        len(line) <= _docgen.WIDTH for _, text in helps.values() for line in text.splitlines()
    )


HELPS = {"ocibuild": ("top", "usage: ocibuild\n"), "build": ("build an image", "usage: b\n")}
DOC = """\
# Reference

<!-- BEGIN help: ocibuild -->
stale text
<!-- END help: ocibuild -->

## build

<!-- BEGIN help: build -->
<!-- END help: build -->
"""


def test_render_rewrites_sections_and_is_stable() -> None:
    out = _docgen.render(DOC, HELPS)
    assert "stale text" not in out
    assert "<!-- BEGIN help: build -->\n```text\nusage: b\n```\n<!-- END help: build -->" in out
    assert out.endswith(f"<!-- help: python {_docgen.python_version()} -->\n")
    assert _docgen.render(out, HELPS) == out


def test_a_new_command_gets_a_section_at_the_end() -> None:
    helps = {**HELPS, "history": ("show the history of an image", "usage: h\n")}
    out = _docgen.render(DOC, helps)
    assert "\n## history\n\nShow the history of an image.\n\n<!-- BEGIN help: history -->" in out
    assert _docgen.render(out, helps) == out


def test_a_section_for_a_removed_command_is_an_error() -> None:
    with pytest.raises(_docgen.StaleSectionError, match="build"):
        _docgen.render(DOC, {"ocibuild": HELPS["ocibuild"]})


def test_check_mode_reports_an_out_of_date_file(tmp_path: Path) -> None:
    path = tmp_path / "cli.md"
    path.write_text(DOC)
    assert _docgen.main(["--check", str(path)]) == 1
    assert path.read_text() == DOC
    assert _docgen.main([str(path)]) == 0
    assert _docgen.main(["--check", str(path)]) == 0
