"""Every malformed input raises DockerfileError with BuildKit's wording and a span."""

from __future__ import annotations

import pytest

from ocibuild.dockerfile import parse
from ocibuild.dockerfile.duration import parse_duration, parse_int32
from ocibuild.dockerfile.flags import FlagError, FlagKind, parse_flags, suggest
from ocibuild.errors import DockerfileError, SourceSpan, UserError

NO_DEST = (
    "{} requires at least two arguments, but only one was provided. "
    "Destination could not be determined"
)

CASES = [
    # (Dockerfile text, first line, last line, message)
    ("", 1, 1, "file with no instructions"),
    ("# only a comment\n\n", 2, 2, "file with no instructions"),
    ("ARG A\n", 1, 1, "dockerfile contains no stages to build"),
    ("LABEL a=b\nFROM scratch\n", 1, 1, "no build stage in current context"),
    ("FORM scratch\n", 1, 1, "unknown instruction: FORM (did you mean from?)"),
    ("FROM scratch\nFOOBARBAZ x\n", 2, 2, "unknown instruction: FOOBARBAZ"),
    ("FROM\n", 1, 1, "FROM requires either one or three arguments"),
    ("FROM a b\n", 1, 1, "FROM requires either one or three arguments"),
    (
        "FROM a AS 1x\n",
        1,
        1,
        'invalid name for build stage: "1x", name can\'t start with a number or contain symbols',
    ),
    (
        "FROM a AS b$c\n",
        1,
        1,
        'invalid name for build stage: "b$c", name can\'t start with a number or contain symbols',
    ),
    ("FROM --platform a\n", 1, 1, "missing a value on flag: platform"),
    ("FROM scratch\nENV --foo=bar a=b\n", 2, 2, "unknown flag: foo"),
    ("FROM scratch\nCMD --help\n", 2, 2, "unknown flag: help"),
    ("FROM scratch\nCOPY --lnk a b\n", 2, 2, "unknown flag: lnk (did you mean link?)"),
    ("FROM scratch\nCOPY --checksum=x a b\n", 2, 2, "unknown flag: checksum"),
    ("FROM scratch\nADD --from=x a b\n", 2, 2, "unknown flag: from"),
    ("FROM scratch\nCOPY --from=a --from=b a b\n", 2, 2, "duplicate flag specified: from"),
    ("FROM scratch\nCOPY --chown a b\n", 2, 2, "missing a value on flag: chown"),
    ("FROM scratch\nCOPY --link= a b\n", 2, 2, "missing a value on flag: link"),
    (
        "FROM scratch\nCOPY --link=yes a b\n",
        2,
        2,
        "expecting boolean value for flag link, not: yes",
    ),
    ("FROM scratch\nRUN --network x\n", 2, 2, "missing a value on flag: network"),
    (
        "FROM scratch\nCMD [1, 2]\n",
        2,
        2,
        "when using JSON array syntax, arrays must be comprised of strings only",
    ),
    (
        'FROM scratch\nCOPY ["a", 1]\n',
        2,
        2,
        "when using JSON array syntax, arrays must be comprised of strings only",
    ),
    (
        "FROM scratch\nONBUILD CMD [1]\n",
        2,
        2,
        "when using JSON array syntax, arrays must be comprised of strings only",
    ),
    ("FROM scratch\nENV x\n", 2, 2, "ENV must have two arguments"),
    (
        "FROM scratch\nENV x=1 y\n",
        2,
        2,
        'Syntax error - can\'t find = in "y". Must be of the form: name=value',
    ),
    (
        "FROM scratch\nLABEL a=1 b\n",
        2,
        2,
        'Syntax error - can\'t find = in "b". Must be of the form: name=value',
    ),
    ("FROM scratch\nENV\n", 2, 2, "ENV requires at least one argument"),
    ("FROM scratch\nENV =x\n", 2, 2, "ENV names can not be blank"),
    ("FROM scratch\nLABEL\n", 2, 2, "LABEL requires at least one argument"),
    ("FROM scratch\nSHELL sh -c\n", 2, 2, "SHELL requires the arguments to be in JSON form"),
    ("FROM scratch\nSHELL\n", 2, 2, "SHELL requires at least one argument"),
    ("FROM scratch\nSHELL []\n", 2, 2, "SHELL requires at least one argument"),
    ("FROM scratch\nUSER\n", 2, 2, "USER requires exactly one argument"),
    ("FROM scratch\nWORKDIR\n", 2, 2, "WORKDIR requires exactly one argument"),
    ("FROM scratch\nSTOPSIGNAL\n", 2, 2, "STOPSIGNAL requires exactly one argument"),
    ("FROM scratch\nMAINTAINER\n", 2, 2, "MAINTAINER requires exactly one argument"),
    ("FROM scratch\nEXPOSE\n", 2, 2, "EXPOSE requires at least one argument"),
    ("FROM scratch\nVOLUME\n", 2, 2, "VOLUME requires at least one argument"),
    ('FROM scratch\nVOLUME ["", "/a"]\n', 2, 2, "VOLUME specified can not be an empty string"),
    ("FROM scratch\nARG\n", 2, 2, "ARG requires at least one argument"),
    ("FROM scratch\nARG =x\n", 2, 2, "ARG names can not be blank"),
    (
        "FROM scratch\nCOPY a\n",
        2,
        2,
        NO_DEST.format("COPY"),
    ),
    (
        "FROM scratch\nADD\n",
        2,
        2,
        NO_DEST.format("ADD"),
    ),
    ("FROM scratch\nCOPY a <<EOF\nx\nEOF\n", 2, 4, "COPY cannot accept a heredoc as a destination"),
    ("FROM scratch\nONBUILD\n", 2, 2, "ONBUILD requires at least one argument"),
    (
        "FROM scratch\nONBUILD ONBUILD RUN x\n",
        2,
        2,
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
    ),
    ("FROM scratch\nONBUILD from x\n", 2, 2, "FROM isn't allowed as an ONBUILD trigger"),
    (
        "FROM scratch\nONBUILD MAINTAINER x\n",
        2,
        2,
        "MAINTAINER isn't allowed as an ONBUILD trigger",
    ),
    ("FROM scratch\nHEALTHCHECK\n", 2, 2, "HEALTHCHECK requires at least one argument"),
    ("FROM scratch\nHEALTHCHECK FOO x\n", 2, 2, 'Unknown type "FOO" in HEALTHCHECK (try CMD)'),
    ("FROM scratch\nHEALTHCHECK CMD\n", 2, 2, "Missing command after HEALTHCHECK CMD"),
    ("FROM scratch\nHEALTHCHECK CMD []\n", 2, 2, "Missing command after HEALTHCHECK CMD"),
    ("FROM scratch\nHEALTHCHECK NONE x\n", 2, 2, "HEALTHCHECK NONE takes no arguments"),
    (
        "FROM scratch\nHEALTHCHECK --interval=5x CMD true\n",
        2,
        2,
        'time: unknown unit "x" in duration "5x"',
    ),
    (
        "FROM scratch\nHEALTHCHECK --timeout=5 CMD true\n",
        2,
        2,
        'time: missing unit in duration "5"',
    ),
    (
        "FROM scratch\nHEALTHCHECK --start-period=abc CMD true\n",
        2,
        2,
        'time: invalid duration "abc"',
    ),
    (
        "FROM scratch\nHEALTHCHECK --interval=0.5ms CMD true\n",
        2,
        2,
        'Interval "interval" cannot be less than 1ms',
    ),
    (
        "FROM scratch\nHEALTHCHECK --interval=-1s CMD true\n",
        2,
        2,
        'Interval "interval" cannot be less than 1ms',
    ),
    (
        "FROM scratch\nHEALTHCHECK --retries=x CMD true\n",
        2,
        2,
        'strconv.ParseInt: parsing "x": invalid syntax',
    ),
    (
        "FROM scratch\nHEALTHCHECK --retries=-1 CMD true\n",
        2,
        2,
        "--retries cannot be negative (-1)",
    ),
    (
        "FROM scratch\nHEALTHCHECK --retries=3 --retries=4 CMD true\n",
        2,
        2,
        "duplicate flag specified: retries",
    ),
    ("FROM scratch\nHEALTHCHECK --foo=1 CMD true\n", 2, 2, "unknown flag: foo"),
    ("FROM scratch\nRUN <<EOF\necho\n", 2, 3, "unterminated heredoc"),
    ("FROM scratch\nRUN <<A <<B\na\nA\nb\n", 2, 5, "unterminated heredoc"),
    ("# escape=x\nFROM scratch\n", 1, 1, "invalid escape token 'x' does not match ` or \\"),
    (
        "# escape=`\n# escape=\\\nFROM scratch\n",
        2,
        2,
        "only one escape parser directive can be used",
    ),
    (
        "# syntax=a\n# syntax=b\nFROM scratch\n",
        2,
        2,
        "only one syntax parser directive can be used",
    ),
    (
        "FROM scratch\nRUN a \\\n  b \\\n  c\nCOPY x\n",
        5,
        5,
        NO_DEST.format("COPY"),
    ),
    (
        "FROM scratch\nENV a=1 \\\n  b\n",
        2,
        3,
        'Syntax error - can\'t find = in "b". Must be of the form: name=value',
    ),
]


@pytest.mark.parametrize(("text", "first", "last", "message"), CASES)
def test_error(text: str, first: int, last: int, message: str) -> None:
    with pytest.raises(DockerfileError) as info:
        parse(text)
    assert info.value.message == message
    assert info.value.span == SourceSpan("Dockerfile", first, last)
    assert str(info.value) == f"Dockerfile:{first}: {message}"


def test_errors_are_user_errors_with_the_given_path() -> None:
    with pytest.raises(UserError) as info:
        parse(b"FROM scratch\nBOGUS\n", path="ctx/Dockerfile.dev")
    assert str(info.value).startswith("ctx/Dockerfile.dev:2: unknown instruction: BOGUS")


def test_lexer_errors_win_over_instruction_errors() -> None:
    # BuildKit lexes the whole file before it interprets any instruction.
    with pytest.raises(DockerfileError, match="unterminated heredoc"):
        parse("BOGUS\nFROM scratch\nRUN <<EOF\n")


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("0", 0),
        ("30s", 30 * 10**9),
        ("1m30s", 90 * 10**9),
        ("1.5h", 5400 * 10**9),
        (".5s", 5 * 10**8),
        ("1.s", 10**9),
        ("+2ms", 2 * 10**6),
        ("-3us", -3000),
        ("1\u00b5s", 1000),
        ("1\u03bcs", 1000),
        ("100ns", 100),
        ("1h2m3s4ms5us6ns", 3723004005006),
    ],
)
def test_go_durations(text: str, nanos: int) -> None:
    assert parse_duration(text) == nanos


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("-", 'time: invalid duration "-"'),
        ("s", 'time: invalid duration "s"'),
        (".s", 'time: invalid duration ".s"'),
        ("1", 'time: missing unit in duration "1"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("9999999999h", 'time: invalid duration "9999999999h"'),
    ],
)
def test_go_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(") + "$"):
        parse_duration(text)


def test_go_int32() -> None:
    assert parse_int32("+7") == 7
    assert parse_int32("-7") == -7
    with pytest.raises(ValueError, match="value out of range"):
        parse_int32("2147483648")
    with pytest.raises(ValueError, match="invalid syntax"):
        parse_int32("1_0")


def test_flags_direct() -> None:
    spec = {"a": FlagKind.BOOL, "s": FlagKind.STRING, "l": FlagKind.STRINGS}
    assert parse_flags(["--a", "--s=x=y", "--l=1", "--l=2"], spec) == {
        "a": True,
        "s": "x=y",
        "l": ("1", "2"),
    }
    assert parse_flags(["--s="], spec) == {"s": ""}
    with pytest.raises(FlagError, match="duplicate flag specified: a"):
        parse_flags(["--a", "--a=false"], spec)


def test_suggest() -> None:
    assert suggest("RUNN", ["run", "env"]) == " (did you mean run?)"
    assert suggest("xyzzy", ["run", "env"]) == ""
