"""plan.cachekey: keys are stable, depend on every part, ignore spans, and explain misses."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from ocibuild.dockerfile import parse
from ocibuild.plan import cachekey
from ocibuild.plan.cachekey import CacheKey, base_key, canonical_instruction, explain, key_for

PARTS = (("instruction", "RUN x"), ("platform", "linux/amd64"))


def test_public_names() -> None:
    assert sorted(cachekey.__all__) == [
        "CacheKey",
        "base_key",
        "canonical_instruction",
        "explain",
        "key_for",
    ]


def test_digest_is_sha256_of_canonical_json_and_parts_are_kept() -> None:
    key = key_for("scratch-key", PARTS)
    expected = json.dumps(
        [["parent", "scratch-key"], ["instruction", "RUN x"], ["platform", "linux/amd64"]],
        separators=(",", ":"),
    ).encode()
    assert key.digest.hex == hashlib.sha256(expected).hexdigest()
    assert key.parts[0] == ("parent", "scratch-key")
    assert key.part("platform") == "linux/amd64"
    assert key.part("nothing") is None
    assert str(key) == str(key.digest)


def test_same_parts_same_key_and_parent_chains() -> None:
    base = base_key("scratch")
    assert key_for(base, PARTS) == key_for(base_key("scratch"), PARTS)
    assert key_for(base, PARTS) != key_for(base_key("sha256:" + "0" * 64), PARTS)
    assert key_for(base, PARTS).part("parent") == str(base)


@given(st.lists(st.tuples(st.text(), st.text()), max_size=4), st.integers(0, 3), st.text())
def test_every_part_changes_the_key(parts: list[tuple[str, str]], index: int, extra: str) -> None:
    key = CacheKey.of(parts)
    if parts:
        i = index % len(parts)
        changed = list(parts)
        changed[i] = (changed[i][0], changed[i][1] + "!" + extra)
        other = CacheKey.of(changed)
        assert other != key
        assert "differs" in explain(key, other)
    assert CacheKey.of([*parts, ("more", extra)]) != key


def test_canonical_instruction_ignores_span_and_spelling() -> None:
    a = parse("FROM scratch\nRUN   echo hi\n").instructions[1]
    b = parse("FROM scratch\n\n\n# c\nRUN   echo hi\n").instructions[1]
    c = parse("FROM scratch\nRUN echo ho\n").instructions[1]
    assert a.span != b.span
    assert canonical_instruction(a) == canonical_instruction(b)
    assert canonical_instruction(a) != canonical_instruction(c)
    assert '"@":"Run"' in canonical_instruction(a)
    assert "span" not in canonical_instruction(a)


def test_canonical_instruction_tells_kinds_and_flags_apart() -> None:
    found = parse(
        "FROM scratch\nCOPY a /b\nADD a /b\nCOPY --chmod=600 a /b\nCOPY --link a /b\n"
    ).instructions[1:]
    texts = {canonical_instruction(i) for i in found}
    assert len(texts) == 4


def test_explain_names_the_first_differing_part() -> None:
    a = key_for("p", PARTS)
    b = key_for("p", (("instruction", "RUN y"), ("platform", "linux/amd64")))
    assert explain(a, a) == "same key"
    assert explain(a, b) == "instruction differs: 'RUN x' != 'RUN y'"
    c = key_for("p", (*PARTS, ("env", "X=1")))
    assert explain(a, c) == "part 'env' is only in one key"
    d = key_for("p", (("user", "root"), ("platform", "linux/amd64")))
    assert explain(a, d) == "part 'instruction' where the other key has 'user'"
    long = key_for("p", (("instruction", "x" * 200), ("platform", "linux/amd64")))
    assert len(explain(a, long)) < 200
