"""Keep docs/reference/cli.md in step with the parser's ``--help``.

Run ``python -m ocibuild._docgen`` from the repository root after changing a
command or a flag: it rewrites every section of the reference between
``<!-- BEGIN help: NAME -->`` and ``<!-- END help: NAME -->`` with the
``ocibuild NAME --help`` text (``ocibuild`` itself for the top level), at a
fixed width of 80 columns.  Commands are discovered from the parser, so a new
command gets a new section, appended at the end of the file under its own
heading; a section naming a command the parser no longer has is an error.
``--check`` writes nothing and exits 1 when the file is out of date
(tests/unit/test_cli_reference.py does the same check).

argparse's layout changes between Python versions, so the file records the
version it was written with (``<!-- help: python 3.11 -->``).

Owns only the documentation text; the parser itself belongs to
:mod:`ocibuild.cli`.  Not imported by the build.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

__all__ = ["REFERENCE", "TOP", "help_texts", "python_version", "recorded_version", "render"]

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md"
TOP = "ocibuild"  # the section name of the top-level `ocibuild --help`
WIDTH = 80
_SECTION = re.compile(
    r"<!-- BEGIN help: (?P<name>[\w-]+) -->\n.*?<!-- END help: (?P=name) -->", re.DOTALL
)
_VERSION = re.compile(r"<!-- help: python (?P<version>[0-9.]+) -->")


class StaleSectionError(ValueError):
    """The reference has a help section for a command the parser does not know."""


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


@contextlib.contextmanager
def _columns(width: int) -> Iterator[None]:
    """argparse sizes help from ``$COLUMNS`` (via shutil.get_terminal_size)."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each command, in the parser's order."""
    found: list[tuple[str, str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {a.dest: a.help or "" for a in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:  # aliases share the parser
                    seen.add(id(sub))
                    found.append((name, summaries.get(name, ""), sub))
    return found


def help_texts() -> dict[str, tuple[str, str]]:
    """Section name -> (one-line summary, ``--help`` text), top level first."""
    from ocibuild.cli import _parser

    with _columns(WIDTH):
        parser = _parser()
        texts = {TOP: (parser.description or "", parser.format_help())}
        for name, summary, sub in _subcommands(parser):
            texts[name] = (summary, sub.format_help())
    return texts


def _section(name: str, text: str) -> str:
    body = "\n".join(line.rstrip() for line in text.rstrip().splitlines())
    return f"<!-- BEGIN help: {name} -->\n```text\n{body}\n```\n<!-- END help: {name} -->"


def render(document: str, helps: Mapping[str, tuple[str, str]]) -> str:
    """The reference with every help section rewritten and missing ones appended."""
    present = [m["name"] for m in _SECTION.finditer(document)]
    stale = sorted(set(present) - set(helps))
    if stale:
        raise StaleSectionError(
            f"help section for unknown command(s) {', '.join(stale)}: remove it by hand"
        )
    out = _SECTION.sub(lambda m: _section(m["name"], helps[m["name"]][1]), document)
    for name, (summary, text) in helps.items():
        if name not in present:
            out = out.rstrip("\n") + f"\n\n## {name}\n\n{_sentence(summary)}\n\n"
            out += _section(name, text) + "\n"
    stamp = f"<!-- help: python {python_version()} -->"
    if _VERSION.search(out):
        return _VERSION.sub(stamp, out)
    return out.rstrip("\n") + f"\n\n{stamp}\n"


def _sentence(summary: str) -> str:
    text = summary.strip() or "(no description)"
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def recorded_version(document: str) -> str | None:
    """The Python version the reference's help sections were written with."""
    found = _VERSION.search(document)
    return found["version"] if found else None


def main(argv: Sequence[str] | None = None) -> int:
    args = argparse.ArgumentParser(prog="python -m ocibuild._docgen", description=__doc__)
    args.add_argument("--check", action="store_true", help="only check; exit 1 if out of date")
    args.add_argument("file", nargs="?", type=Path, default=REFERENCE, help="the reference")
    ns = args.parse_args(argv)
    document = ns.file.read_text(encoding="utf-8")
    try:
        updated = render(document, help_texts())
    except StaleSectionError as err:
        sys.stderr.write(f"{ns.file}: {err}\n")
        return 1
    if updated == document:
        return 0
    if ns.check:
        sys.stderr.write(f"{ns.file} is out of date: run python -m ocibuild._docgen\n")
        return 1
    ns.file.write_text(updated, encoding="utf-8")
    sys.stderr.write(f"rewrote {ns.file}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
