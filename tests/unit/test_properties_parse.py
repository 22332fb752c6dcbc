"""Parser properties over generated Dockerfile-like text (hypothesis).

Beyond the golden cases: whatever the text, ``parse`` either returns or raises
``DockerfileError`` (never another exception), and a Dockerfile that parses
parses again to the same instructions from the text ``original`` keeps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis import given, settings
from hypothesis import strategies as st

from ocibuild._record import replace
from ocibuild.dockerfile import parse
from ocibuild.errors import DockerfileError

if TYPE_CHECKING:
    from ocibuild.dockerfile.instructions import Instruction

KEYWORDS = [
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK",
    "SHELL", "MAINTAINER", "from", "Run", "FORM",
]  # fmt: skip
PIECES = [
    "busybox", "AS", "base", "--platform=linux/amd64", "--from=base", "--chown=1:2",
    "--chmod=755", "--mount=type=cache,target=/c", "--network=none", "--interval=5s",
    "NONE", "a=b", "a", "=", '"x y"', "'q'", "$A", "${A:-d}", '["sh", "-c", "echo"]',
    '["x"', "[1]", "\\", "`", "<<EOF", "<<-END", "/dest/", "*.txt", "80/tcp", "#", "\t",
]  # fmt: skip
LINE = st.tuples(st.sampled_from(KEYWORDS), st.lists(st.sampled_from(PIECES), max_size=5)).map(
    lambda t: " ".join([t[0], *t[1]])
)
TEXT = st.lists(
    st.one_of(
        LINE,
        st.sampled_from(["", "# comment", "# escape=`", "EOF", "END", "  hi", "\\"]),
        st.text(max_size=20),
    ),
    max_size=12,
).map("\n".join)


def _without_location(instr: Instruction) -> Instruction:
    return replace(instr, span=None, original="")


@settings(max_examples=200, deadline=None)
@given(st.one_of(TEXT, st.binary(max_size=200)))
def test_parse_raises_only_dockerfile_errors(text: str | bytes) -> None:
    try:
        parse(text)
    except DockerfileError as err:
        assert err.span is not None, err  # every parse error says where
        assert str(err).startswith("Dockerfile:")


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_originals_parse_back_to_the_same_instructions(text: str) -> None:
    try:
        first = parse(text)
    except DockerfileError:
        return
    if any(getattr(i, "heredocs", ()) for i in first.instructions):
        return  # bodies are not part of ``original``
    head = "".join(f"# {k}={v}\n" for k, v in first.directives)
    second = parse(head + "\n".join(i.original for i in first.instructions))
    assert second.escape == first.escape
    assert [_without_location(i) for i in second.instructions] == [
        _without_location(i) for i in first.instructions
    ]
