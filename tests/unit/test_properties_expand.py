"""Variable substitution properties (hypothesis), beside test_expand.py's.

test_expand.py already has: plain words unchanged, single quotes literal,
only DockerfileError out, escaped values round trip.  Here: the
``${}`` modifiers against their definitions, and values never re-lexed.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ocibuild.dockerfile.expand import process_word, process_words

NAME = st.tuples(st.sampled_from("AXYb_"), st.text("AX1_", max_size=3)).map("".join)
ANY_VALUE = st.text(max_size=12)
# Words that need no quoting inside ${...}: no $ \ { } / ' " and no whitespace.
PLAIN = st.text(
    st.characters(
        exclude_characters="$\\{}/'\"`*?#%",
        exclude_categories=("Zs", "Zl", "Zp", "Cc", "Cs"),
    ),
    max_size=8,
)
ENVS = st.dictionaries(NAME, ANY_VALUE, max_size=4)
FAST = settings(max_examples=120, deadline=None)


@FAST
@given(NAME, ANY_VALUE)
def test_substituted_values_are_not_lexed_again(name: str, value: str) -> None:
    env = {name: value}
    assert process_word("${" + name + "}", env) == value
    assert process_word('"${' + name + '}"', env) == value


@FAST
@given(NAME, ENVS, PLAIN)
def test_colon_dash_is_value_or_default(name: str, env: dict[str, str], default: str) -> None:
    value = env.get(name)
    expected = value if value else default
    assert process_word("${" + name + ":-" + default + "}", env) == expected


@FAST
@given(NAME, ENVS, PLAIN)
def test_dash_is_value_if_set(name: str, env: dict[str, str], default: str) -> None:
    value = env.get(name)
    expected = value if value is not None else default
    assert process_word("${" + name + "-" + default + "}", env) == expected


@FAST
@given(NAME, ENVS, PLAIN)
def test_plus_forms_are_the_alternative_if_set(name: str, env: dict[str, str], word: str) -> None:
    value = env.get(name)
    assert process_word("${" + name + ":+" + word + "}", env) == (word if value else "")
    assert process_word("${" + name + "+" + word + "}", env) == (word if value is not None else "")


@FAST
@given(NAME, PLAIN, PLAIN, PLAIN)
def test_literal_trims_and_replacements(name: str, head: str, body: str, tail: str) -> None:
    value = head + body + tail
    env = {name: value}
    assert process_word("${" + name + "#" + head + "}", env) == body + tail
    assert process_word("${" + name + "%" + tail + "}", env) == head + body
    if body:
        first = value.replace(body, "<>", 1)
        every = value.replace(body, "<>")
        assert process_word("${" + name + "/" + body + "/<>}", env) == first
        assert process_word("${" + name + "//" + body + "/<>}", env) == every


@FAST
@given(st.lists(PLAIN.filter(bool), max_size=5), st.sampled_from([" ", "  ", "\t", " \t "]))
def test_unquoted_whitespace_splits_words(words: list[str], gap: str) -> None:
    assert process_words(gap.join(words), {}) == words
    assert process_words("$V", {"V": gap.join(words)}) == words
    assert process_words('"$V"', {"V": gap.join(words)}) == ([gap.join(words)] if words else [])
