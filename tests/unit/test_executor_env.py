"""The stage env as a dict, and ENV setting a key (ocibuild.executor.state)."""

from __future__ import annotations

from ocibuild.executor.state import env_dict, set_env


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
