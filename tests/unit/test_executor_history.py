"""ocibuild.executor.history: created_by strings identical to Docker 20.10 BuildKit's.

The expected strings were taken from ``docker history --no-trunc`` of images
built with BuildKit on this machine.
"""

from __future__ import annotations

import pytest

from ocibuild.executor import history as h


def test_exec_list_matches_go_q() -> None:
    assert h.exec_list(["/bin/sh", "-xc", "echo $A"]) == '["/bin/sh" "-xc" "echo $A"]'
    assert h.exec_list(['a"b', "c\\d", "e\nf", "\x01"]) == r'["a\"b" "c\\d" "e\nf" "\x01"]'
    assert h.exec_list(["héllo"]) == '["héllo"]'


def test_plain_list_and_port_map() -> None:
    assert h.plain_list(["/v", "[/v2]"]) == "[/v [/v2]]"
    assert h.port_map(["80/tcp", "443/udp"]) == "map[443/udp:{} 80/tcp:{}]"


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (5 * 10**9, "5s"),
        (90 * 10**9, "1m30s"),
        (3600 * 10**9, "1h0m0s"),
        (1_500_000_000, "1.5s"),
        (500_000_000, "500ms"),
        (1_500, "1.5µs"),
        (7, "7ns"),
    ],
)
def test_go_duration(ns: int, text: str) -> None:
    assert h.go_duration(ns) == text


def test_healthcheck_created_by() -> None:
    text = h.healthcheck_created_by(["CMD-SHELL", "echo hi"], 5 * 10**9, 0, 0, 0)
    assert text == """HEALTHCHECK &{["CMD-SHELL" "echo hi"] "5s" "0s" "0s" '\\x00'}"""


@pytest.mark.parametrize(
    ("value", "text"), [(0, "'\\x00'"), (3, "'\\x03'"), (10, "'\\n'"), (65, "'A'"), (39, "'\\''")]
)
def test_go_quote_rune(value: int, text: str) -> None:
    assert h.go_quote_rune(value) == text


def test_copy_created_by() -> None:
    assert h.copy_created_by("ADD", ["a.txt", "link"], "/m/") == "ADD a.txt link /m/ # buildkit"
