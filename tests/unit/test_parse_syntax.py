"""The lexer: directives, comments, continuations, escape char, heredocs, encodings."""

from __future__ import annotations

import pytest

from ocibuild.dockerfile import parse
from ocibuild.dockerfile.heredoc import HeredocWord, chomp, heredoc_words, parse_heredoc_word
from ocibuild.dockerfile.instructions import Command, Copy, Heredoc, Onbuild, Run
from ocibuild.errors import SourceSpan


def run_of(text: str, index: int = 1) -> Run:
    instruction = parse(text).instructions[index]
    assert isinstance(instruction, Run)
    return instruction


def test_directives_at_top() -> None:
    df = parse("# syntax=docker/dockerfile:1.7\n#check=skip=all\n# ESCAPE = `\nFROM scratch\n")
    assert df.directives == (
        ("syntax", "docker/dockerfile:1.7"),
        ("check", "skip=all"),
        ("escape", "`"),
    )
    assert df.escape == "`"


@pytest.mark.parametrize(
    "text",
    [
        "FROM scratch\n# escape=`\n",  # after an instruction
        "# hello\n# escape=`\nFROM scratch\n",  # after a comment
        "\n# escape=`\nFROM scratch\n",  # after a blank line
        "# unknown=1\n# escape=`\nFROM scratch\n",  # after an unknown directive
    ],
)
def test_late_directives_are_comments(text: str) -> None:
    df = parse(text)
    assert df.escape == "\\"
    assert df.directives == ()


def test_backtick_escape_continues_lines() -> None:
    run = run_of("# escape=`\nFROM scratch\nRUN dir c:\\ `\n  /b\n")
    assert run.command.args == ("dir c:\\   /b",)
    assert run.span == SourceSpan("Dockerfile", 3, 4)


def test_backslash_is_literal_under_backtick_escape() -> None:
    run = run_of("# escape=`\nFROM scratch\nRUN echo \\\nUSER x\n")
    assert run.command.args == ("echo \\",)


def test_continuation_joins_lines_as_written() -> None:
    run = run_of("FROM scratch\nRUN echo a \\\n    b\\\n c\n")
    assert run.command.args == ("echo a     b c",)
    assert run.original == "RUN echo a     b c"


def test_continuation_skips_comments_and_blank_lines() -> None:
    text = (
        "FROM scratch\nRUN apt-get install \\\n  # the tools\n\n   \n"
        "  curl \\\n  # trailing\n  jq\n"
    )
    run = run_of(text)
    assert run.command.args == ("apt-get install   curl   jq",)
    assert run.span == SourceSpan("Dockerfile", 2, 8)


def test_escaped_escape_at_end_is_not_a_continuation() -> None:
    df = parse("FROM scratch\nRUN echo \\\\\nUSER x\n")
    assert len(df.instructions) == 3


def test_continuation_with_trailing_blanks_after_escape() -> None:
    run = run_of("FROM scratch\nRUN a \\  \t\n b\n")
    assert run.command.args == ("a  b",)


def test_escape_alone_on_a_line() -> None:
    run = run_of("FROM scratch\nRUN a \\\n\\\n b\n")
    assert run.command.args == ("a  b",)


def test_continuation_at_end_of_file() -> None:
    run = run_of("FROM scratch\nRUN a \\")
    assert run.command.args == ("a",)


def test_comments_and_leading_whitespace() -> None:
    df = parse("  # comment\n\t FROM scratch   \n    # another\n  run   true\n")
    assert [i.span.first_line for i in df.instructions] == [2, 4]
    run = df.instructions[1]
    assert isinstance(run, Run) and run.command.args == ("true",)


def test_hash_inside_an_instruction_is_not_a_comment() -> None:
    run = run_of("FROM scratch\nRUN echo a # not a comment\n")
    assert run.command.args == ("echo a # not a comment",)


def test_crlf_and_bom() -> None:
    df = parse(b"\xef\xbb\xbf# escape=`\r\nFROM scratch\r\nRUN a `\r\n  b\r\n")
    assert df.escape == "`"
    run = df.instructions[1]
    assert isinstance(run, Run)
    assert run.command.args == ("a   b",)


def test_str_input_with_bom() -> None:
    df = parse("\ufeffFROM scratch\n", path="sub/Containerfile")
    assert df.path == "sub/Containerfile"
    assert df.instructions[0].span == SourceSpan("sub/Containerfile", 1, 1)


def test_instruction_names_are_case_insensitive() -> None:
    df = parse("from scratch\nRuN true\ncOpY a b\n")
    assert [type(i).__name__ for i in df.instructions] == ["From", "Run", "Copy"]


def test_heredoc_chomp_strips_leading_tabs() -> None:
    run = run_of("FROM scratch\nRUN <<-EOF\n\techo a\n\t\t  b\n\tEOF\n")
    assert run.heredocs == (Heredoc("EOF", "echo a\n  b\n", expand=True, chomp=True),)


def test_heredoc_without_chomp_needs_exact_terminator() -> None:
    run = run_of("FROM scratch\nRUN <<EOF\n\tEOF\nEOF \nEOF\n")
    assert run.heredocs[0].content == "\tEOF\nEOF \n"


@pytest.mark.parametrize(
    ("word", "expand"), [("<<'EOF'", False), ('<<"EOF"', False), ("<<E'O'F", False)]
)
def test_quoted_heredoc_names_disable_expansion(word: str, expand: bool) -> None:
    run = run_of(f"FROM scratch\nRUN cat {word}\n$x\nEOF\n")
    assert run.heredocs == (Heredoc("EOF", "$x\n", expand=expand),)


def test_several_heredocs_on_one_line() -> None:
    text = "FROM scratch\nRUN cat <<A > /a && cat <<-B > /b\none\nA\n\ttwo\n\tB\nUSER x\n"
    run = run_of(text)
    assert run.command == Command(("cat <<A > /a && cat <<-B > /b",), shell_form=True)
    assert run.heredocs == (Heredoc("A", "one\n"), Heredoc("B", "two\n", chomp=True))
    assert run.span == SourceSpan("Dockerfile", 2, 6)


def test_heredoc_after_continuation() -> None:
    run = run_of("FROM scratch\nRUN --network=none \\\n  python3 <<PY\nprint(1)\nPY\n")
    assert run.command.args == ("python3 <<PY",)
    assert run.network == "none"
    assert run.heredocs == (Heredoc("PY", "print(1)\n"),)


def test_heredoc_body_lines_are_not_instructions_or_comments() -> None:
    df = parse("FROM scratch\nRUN <<EOF\n# not a comment\nFROM x \\\nEOF\nUSER y\n")
    assert len(df.instructions) == 3
    run = df.instructions[1]
    assert isinstance(run, Run)
    assert run.heredocs[0].content == "# not a comment\nFROM x \\\n"


def test_heredoc_body_keeps_crlf() -> None:
    run = run_of("FROM scratch\r\nRUN <<EOF\r\na\r\nEOF\r\n")
    assert run.heredocs[0].content == "a\r\n"


def test_no_heredoc_in_exec_form_or_quotes() -> None:
    df = parse('FROM scratch\nRUN ["cat", "<<EOF"]\nRUN echo "<<EOF" cat<<EOF\nUSER x\n')
    assert len(df.instructions) == 4
    assert all(not getattr(i, "heredocs", ()) for i in df.instructions)


def test_heredoc_on_other_instructions_is_plain_text() -> None:
    df = parse("FROM scratch\nLABEL a=<<EOF\nUSER x\n")
    assert len(df.instructions) == 3


def test_copy_heredoc_and_add_heredoc() -> None:
    df = parse("FROM scratch\nCOPY <<one <<two /dst/\n1\none\n2\ntwo\nADD <<EOF /f\nx\nEOF\n")
    copy, add = df.instructions[1:]
    assert isinstance(copy, Copy)
    assert copy.sources == ("<<one", "<<two")
    assert copy.heredocs == (Heredoc("one", "1\n"), Heredoc("two", "2\n"))
    assert add.span == SourceSpan("Dockerfile", 7, 9)


def test_onbuild_heredoc_goes_into_expression() -> None:
    df = parse("FROM scratch\nONBUILD RUN <<EOF\necho hi\nEOF\nUSER x\n")
    onbuild = df.instructions[1]
    assert isinstance(onbuild, Onbuild)
    assert onbuild.expression == "RUN <<EOF\necho hi\nEOF"
    assert onbuild.span == SourceSpan("Dockerfile", 2, 4)
    again = parse("FROM scratch\n" + onbuild.expression + "\n").instructions[1]
    assert isinstance(again, Run) and again.heredocs == (Heredoc("EOF", "echo hi\n"),)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("<<EOF", HeredocWord("EOF", expand=True, chomp=False)),
        ("<<-EOF", HeredocWord("EOF", expand=True, chomp=True)),
        ('<<"EOF"', HeredocWord("EOF", expand=False, chomp=False)),
        ("<<-'E O'", HeredocWord("E O", expand=False, chomp=True)),
        ("3<<EOF", HeredocWord("EOF", expand=True, chomp=False, fd=3)),
        ("<<", None),
        ("<<<EOF", None),
        ("x<<EOF", None),
        ("file.txt", None),
    ],
)
def test_parse_heredoc_word(word: str, expected: HeredocWord | None) -> None:
    assert parse_heredoc_word(word) == expected


def test_heredoc_words_from_a_line() -> None:
    names = [h.name for h in heredoc_words('RUN a <<A "<<B" \\<<C ${x:-<<D e} <<E')]
    assert names == ["A", "E"]


def test_chomp() -> None:
    assert chomp("\t\ta\n b\n\tc\t\n") == "a\n b\nc\t\n"
