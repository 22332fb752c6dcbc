"""Executable documentation: find the examples in Markdown and judge their output.

Pure code (no processes, no files): ``tests/integration/test_docs.py`` runs
what this module finds and asks it whether the output is right.  The
convention it reads is documented for writers in docs/testing.md:

- ```` ```console ```` blocks hold shell sessions.  A line starting with
  ``$ `` is a command; a trailing ``\\`` continues it onto the next line, and
  a here-document (``<<EOF``, ``<<'EOF'``, ``<<-EOF``) takes the lines up to
  its terminator.  The lines after a command, up to the next ``$ `` line,
  are its expected output (stdout and stderr merged).
- In expected output, a line ``...`` matches any number of lines (none
  too), the placeholders of :data:`PLACEHOLDERS` match a value that changes
  from run to run, and a last line ``[exit N]`` says the command exits with
  status N (default 0).  Trailing spaces and trailing blank lines are ignored.
- ```` ```python ```` blocks are Python programs, each run on its own.
- Any other fence (``sh``, ``text``, ``dockerfile``...) is shown, never run.
- ``<!-- docs-test: skip REASON -->`` at the start of a line keeps all of
  a file's blocks from running; the reason is required.
- ``<!-- docs-test: run-by tests/PATH.py -->`` hands a file's blocks to
  that test, which runs them in one session with set-up and clean-up the
  docs test cannot give (a debootstrapped base, a container to stop).
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

__all__ = [
    "ELLIPSIS",
    "PLACEHOLDERS",
    "Block",
    "Command",
    "DocFormatError",
    "blocks",
    "commands",
    "match_output",
    "run_by",
    "skip_reason",
]

PLACEHOLDERS: dict[str, str] = {
    "<digest>": r"sha256:[0-9a-f]{64}",  # a full digest: image IDs, blob digests
    "<id>": r"[0-9a-f]{12}",  # a short image ID, as `ocibuild images` shows it
    "<hex>": r"[0-9a-f]+",  # any run of lowercase hex digits
    "<n>": r"[0-9]+(?:\.[0-9]+)?",  # a number: counts, seconds
    "<size>": r"[0-9]+(?:\.[0-9]+)?\s?(?:[kKMGT]i?)?B",  # 2.03MB, 512B, 1.5 KiB
    "<any>": r".*",  # anything within one line (dates, paths)
}
ELLIPSIS = "..."
RUN_LANGUAGES = frozenset({"console", "python"})

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[^\s`]*)")
# At the start of a line: `<!-- docs-test: skip -->` quoted in running text is not one.
_SKIP = re.compile(r"^[ \t]*<!--\s*docs-test:\s*skip\b(?P<reason>.*?)-->", re.DOTALL | re.MULTILINE)
# `<!-- docs-test: run-by tests/...py -->`: that test runs the file's blocks (with set-up
# and clean-up the docs test cannot give, such as a debootstrapped base).
_RUN_BY = re.compile(r"^[ \t]*<!--\s*docs-test:\s*run-by\s+(?P<path>\S+)\s*-->", re.MULTILINE)
_EXIT = re.compile(r"^\[exit (?P<status>[0-9]+)\]$")
_HEREDOC = re.compile(
    r"(?<!<)<<(?!<)(?P<dash>-?)[ \t]*(?P<quote>['\"]?)(?P<word>[A-Za-z_][A-Za-z0-9_]*)(?P=quote)"
)
_PLACEHOLDER = re.compile("|".join(re.escape(name) for name in PLACEHOLDERS))


class DocFormatError(ValueError):
    """A block breaks the convention (output before any command, an unclosed here-doc...)."""


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block: its language, the 1-based line of its opening fence, its text lines."""

    lang: str
    line: int
    lines: tuple[str, ...]

    @property
    def runs(self) -> bool:
        return self.lang in RUN_LANGUAGES


@dataclass(frozen=True, slots=True)
class Command:
    """One ``$ `` command of a console block and what it should print and return."""

    source: str
    line: int
    expected: tuple[str, ...]
    exit_status: int = 0


def skip_reason(text: str) -> str | None:
    """The reason of a file's ``<!-- docs-test: skip REASON -->``, None without one."""
    found = _SKIP.search(text)
    if found is None:
        return None
    reason = " ".join(found["reason"].split())
    if not reason:
        raise DocFormatError("<!-- docs-test: skip --> needs a reason after 'skip'")
    return reason


def run_by(text: str) -> str | None:
    """The test named by a file's ``<!-- docs-test: run-by PATH -->``, None without one."""
    found = _RUN_BY.search(text)
    return None if found is None else found["path"]


def blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text, indentation of its fence removed."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(_dedent(lines[j], indent))
            j += 1
        found.append(Block(opening["lang"].lower(), i + 1, tuple(body)))
        i = j + 1
    return found


def _dedent(line: str, indent: int) -> str:
    """Remove up to ``indent`` leading spaces (a fence inside a list item)."""
    stripped = len(line) - len(line.lstrip(" "))
    return line[min(indent, stripped) :]


def commands(block: Block) -> list[Command]:
    """The commands of a console block with their expected output and exit status."""
    out: list[Command] = []
    lines = list(block.lines)
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            if lines[i].strip():
                raise DocFormatError(
                    f"line {block.line + 1 + i}: output before any `$ ` command: {lines[i]!r}"
                )
            i += 1
            continue
        first = block.line + 1 + i
        source, i = _command_source(lines, i, first)
        expected: list[str] = []
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i])
            i += 1
        out.append(_command(source, first, expected))
    return out


def _command_source(lines: list[str], i: int, first: int) -> tuple[str, int]:
    """The text of the command starting at ``lines[i]``, and the index after it."""
    parts = [lines[i][2:]]
    i += 1
    while parts[-1].endswith("\\") and i < len(lines):
        parts.append(lines[i])
        i += 1
    for heredoc in _HEREDOC.finditer("\n".join(parts)):
        word = heredoc["word"]
        while True:
            if i >= len(lines):
                raise DocFormatError(f"line {first}: here-document {word} is not closed")
            parts.append(lines[i])
            i += 1
            if (parts[-1].lstrip("\t") if heredoc["dash"] else parts[-1]) == word:
                break
    return "\n".join(parts), i


def _command(source: str, line: int, expected: list[str]) -> Command:
    lines = _trim(expected)
    status = 0
    if lines:
        last = _EXIT.match(lines[-1].strip())
        if last is not None:
            status = int(last["status"])
            lines = _trim(lines[:-1])
    return Command(source, line, tuple(lines), status)


def _trim(lines: list[str]) -> list[str]:
    """Trailing spaces of each line and trailing blank lines removed."""
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def match_output(expected: tuple[str, ...] | list[str], actual: str) -> str | None:
    """None when ``actual`` fits ``expected``; else a readable diff (expected first)."""
    want = _trim(list(expected))
    got = _trim(actual.splitlines())
    patterns = tuple(None if line == ELLIPSIS else _line_pattern(line) for line in want)

    @functools.cache
    def fits(w: int, g: int) -> bool:
        if w == len(patterns):
            return g == len(got)
        pattern = patterns[w]
        if pattern is None:  # `...`: skip zero or more actual lines
            return any(fits(w + 1, k) for k in range(g, len(got) + 1))
        return g < len(got) and pattern.fullmatch(got[g]) is not None and fits(w + 1, g + 1)

    if fits(0, 0):
        return None
    diff = difflib.unified_diff(want, got, "expected", "actual", lineterm="")
    return "\n".join(diff)


@functools.cache
def _line_pattern(line: str) -> re.Pattern[str]:
    parts: list[str] = []
    last = 0
    for found in _PLACEHOLDER.finditer(line):
        parts.append(re.escape(line[last : found.start()]))
        parts.append(PLACEHOLDERS[found.group()])
        last = found.end()
    parts.append(re.escape(line[last:]))
    return re.compile("".join(parts))
