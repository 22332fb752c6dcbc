"""The stage env, labels and ARGs as steps change them (ocibuild.executor.state)."""

from __future__ import annotations

import random

from ocibuild.executor.state import StageState, empty_config, env_dict, set_env, set_labels


def test_set_env_appends_a_new_key_and_replaces_a_known_one_in_place() -> None:
    env = ("PATH=/bin", "A=1")
    env = set_env(env, "B", "2")
    assert env == ("PATH=/bin", "A=1", "B=2")
    assert set_env(env, "A", "x=y") == ("PATH=/bin", "A=x=y", "B=2")
    assert env_dict(set_env(env, "A", "x=y")) == {"PATH": "/bin", "A": "x=y", "B": "2"}


def test_a_later_duplicate_wins_also_after_a_set() -> None:
    env = ("A=1", "A=2")  # a base image may carry duplicates
    assert env_dict(env) == {"A": "2"}
    assert set_env(env, "A", "3") == ("A=3", "A=2")  # as before: the first one is replaced
    assert env_dict(set_env(env, "A", "3")) == {"A": "2"}


def test_the_dict_is_the_callers_own() -> None:
    env = ("A=1",)
    mine = env_dict(env)
    mine["A"] = "changed"
    mine["B"] = "added"
    assert env_dict(env) == {"A": "1"}
    grown = set_env(env, "C", "3")
    assert env_dict(grown) == {"A": "1", "C": "3"}


def test_many_distinct_keys_keep_every_value() -> None:
    env: tuple[str, ...] = ()
    for i in range(3000):
        env = set_env(env, f"K{i}", str(i))
        if i % 500 == 0:
            env = set_env(env, "K0", f"again{i}")
    expected = {f"K{i}": str(i) for i in range(3000)} | {"K0": "again2500"}
    assert env_dict(env) == expected
    assert env == tuple(f"{k}={v}" for k, v in expected.items())


def test_set_labels_keeps_them_sorted_with_each_key_once() -> None:
    labels = set_labels((), [("b", "1"), ("a", "2"), ("b", "3")])
    assert labels == (("a", "2"), ("b", "3"))
    labels = set_labels(labels, [("ab", "x"), ("", "empty"), ("z", "last"), ("a", "new")])
    assert labels == (("", "empty"), ("a", "new"), ("ab", "x"), ("b", "3"), ("z", "last"))


def test_set_labels_agrees_with_a_sorted_dict_over_many_steps() -> None:
    rng = random.Random(7)
    labels: tuple[tuple[str, str], ...] = ()
    model: dict[str, str] = {}
    for step in range(400):
        pairs = [(f"k{rng.randrange(150)}", str(step)) for _ in range(rng.randrange(1, 4))]
        labels = set_labels(labels, pairs)
        model.update(pairs)
        assert labels == tuple(sorted(model.items()))


def test_args_in_scope_after_redeclaring_and_unsetting() -> None:
    state = StageState(config=empty_config("linux", "amd64"))
    state = state.with_arg("A", "1").with_arg("B", None).with_arg("C", "3")
    assert state.expansion_env["A"] == "1" and "B" not in state.expansion_env
    state = state.with_arg("A", "2").with_arg("B", "b").with_arg("C", None)
    assert state.args == (("A", "2"), ("B", "b"))  # C declared again without a value
    assert state.arg_names == ("A", "B", "C")
    assert {k: v for k, v in state.expansion_env.items() if k != "PATH"} == {"A": "2", "B": "b"}
