"""The docs runner's reader and matcher (tests/helpers/mdtest.py), without running anything."""

from __future__ import annotations

import pytest
from helpers.mdtest import (
    Block,
    Command,
    DocFormatError,
    blocks,
    commands,
    match_output,
    skip_reason,
)

DIGEST = "sha256:" + "ab" * 32

DOC = """\
# Title

```console
$ echo hi
hi
```

Text.

1. In a list:

   ```console
   $ printf 'a\\n' \\
       && false
   a
   [exit 1]
   ```

```sh
not run
```

```python
print(1)
```
"""


def test_blocks_finds_every_fence_and_its_language_and_line() -> None:
    found = blocks(DOC)
    assert [(b.lang, b.line, b.runs) for b in found] == [
        ("console", 3, True),
        ("console", 12, True),
        ("sh", 19, False),
        ("python", 23, True),
    ]
    assert found[1].lines[0] == "$ printf 'a\\n' \\"  # the list indent is gone


def test_commands_split_output_continuations_and_exit_status() -> None:
    first, second = blocks(DOC)[:2]
    assert commands(first) == [Command("echo hi", 4, ("hi",), 0)]
    assert commands(second) == [Command("printf 'a\\n' \\\n    && false", 13, ("a",), 1)]


def test_heredoc_lines_belong_to_the_command() -> None:
    block = Block(
        "console",
        1,
        ("$ cat > f <<'EOF'", "$ not a command", "EOF", "$ cat f", "$ not a command"),
    )
    assert commands(block) == [
        Command("cat > f <<'EOF'\n$ not a command\nEOF", 2, ()),
        Command("cat f", 5, ()),  # a `$ ` line is a command, never output
        Command("not a command", 6, ()),
    ]


def test_unclosed_heredoc_and_output_before_a_command_are_errors() -> None:
    with pytest.raises(DocFormatError, match="not closed"):
        commands(Block("console", 1, ("$ cat <<EOF", "x")))
    with pytest.raises(DocFormatError, match="before any"):
        commands(Block("console", 1, ("output", "$ true")))


def test_skip_needs_a_reason() -> None:
    assert skip_reason("no marker") is None
    assert skip_reason("quoted: `<!-- docs-test: skip REASON -->`") is None
    assert skip_reason("<!-- docs-test: skip needs\n  debootstrap -->") == "needs debootstrap"
    with pytest.raises(DocFormatError, match="needs a reason"):
        skip_reason("<!-- docs-test: skip -->")


def test_exact_output_matches_ignoring_trailing_space_and_blank_lines() -> None:
    assert match_output(["a", "b"], "a  \nb\n\n") is None


def test_mismatching_output_fails_with_a_diff() -> None:
    report = match_output(["hello", "world"], "hello\nthere\n")
    assert report is not None
    assert "-world" in report
    assert "+there" in report


def test_missing_and_extra_lines_fail() -> None:
    assert match_output(["a", "b"], "a\n") is not None
    assert match_output(["a"], "a\nb\n") is not None
    assert match_output([], "unexpected\n") is not None


def test_ellipsis_matches_any_number_of_lines() -> None:
    assert match_output(["start", "...", "end"], "start\nend\n") is None
    assert match_output(["start", "...", "end"], "start\n1\n2\nend\n") is None
    assert match_output(["...", "end"], "x\nend\n") is None
    assert match_output(["start", "..."], "start\n") is None
    assert match_output(["start", "...", "end"], "start\n1\n") is not None
    assert match_output(["...", "a", "...", "a"], "a\nb\na\n") is None


def test_placeholders() -> None:
    assert match_output(["built <digest>"], f"built {DIGEST}") is None
    assert match_output(["built <digest>"], "built sha256:abc") is not None
    assert match_output(["id <id> size <size>"], "id 1a57084b1607 size 2.03MB") is None
    assert match_output(["id <id>"], "id 1a57084b160") is not None
    assert match_output(["took <n> s"], "took 0.25 s") is None
    assert match_output(["<hex>"], "DEADBEEF") is not None
    assert match_output(["created <any> ago"], "created 3 seconds ago") is None


def test_literal_text_is_not_a_regular_expression() -> None:
    assert match_output(["a.c (x)"], "a.c (x)") is None
    assert match_output(["a.c"], "abc") is not None


def test_a_here_string_is_not_a_heredoc() -> None:
    block = Block("console", 1, ("$ cat <<<x", "x"))
    assert commands(block) == [Command("cat <<<x", 2, ("x",))]
