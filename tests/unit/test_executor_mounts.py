"""Parsing of RUN --mount and --secret values (BuildKit 20.10's defaults and wording)."""

from __future__ import annotations

import pytest

from ocibuild.errors import UserError
from ocibuild.executor.mounts import (
    BindMount,
    CacheMount,
    SecretMount,
    SecretSource,
    TmpfsMount,
    parse_mount,
    parse_secret,
)


def test_bind_defaults_and_aliases() -> None:
    assert parse_mount("target=/src") == BindMount("/src")
    assert parse_mount("type=bind,dst=/a/,src=sub,from=build,readwrite") == BindMount(
        "/a", "sub", "build", rw=True
    )
    assert parse_mount("type=bind,target=x,rw=false") == BindMount("/x")


def test_cache_defaults_and_options() -> None:
    assert parse_mount("type=cache,target=/c") == CacheMount("/c", id="/c")
    got = parse_mount("type=cache,target=/c,id=k,ro,sharing=locked,mode=0700,uid=5,gid=6")
    assert got == CacheMount(
        "/c", id="k", readonly=True, sharing="locked", mode=0o700, uid=5, gid=6
    )


def test_tmpfs_and_secret() -> None:
    assert parse_mount("type=tmpfs,target=/t") == TmpfsMount("/t")
    assert parse_mount("type=tmpfs,target=/t,size=2m") == TmpfsMount("/t", 2 * 1024 * 1024)
    assert parse_mount("type=secret,id=x") == SecretMount("x", "/run/secrets/x")
    assert parse_mount("type=secret,target=/etc/k,required,mode=0444") == SecretMount(
        "k", "/etc/k", required=True, mode=0o444
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("type=foo,target=/x", 'unsupported mount type "foo"'),
        ("type=bind,bogus=1,target=/x", "unexpected key 'bogus' in 'bogus=1'"),
        ("type=bind", 'invalid mount target "/"'),
        ("type=cache,target=/x,sharing=bad", 'unsupported sharing value "bad"'),
        ("type=cache,target=/x,ro=maybe", "invalid value for ro: maybe"),
        ("type=bind,target=/x,novalue", "invalid field 'novalue' must be a key=value pair"),
        ("type=secret,id=x,required=maybe", "invalid value for required: maybe"),
        ("type=cache,target=/x,mode=abc", "invalid value abc for mode"),
        ("type=cache,target=/x,uid=abc", "invalid value abc for uid"),
        ("type=secret,target=/x,env=Y", "unexpected key 'env' in 'env=Y'"),
        ("type=tmpfs,target=/x,rw", "unexpected key 'rw' in 'rw'"),
    ],
)
def test_errors_use_buildkit_wording(value: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_mount(value)
    assert str(info.value) == message


def test_parse_secret() -> None:
    assert parse_secret("id=a,src=/f") == SecretSource("a", src="/f")
    assert parse_secret("id=a,env=V") == SecretSource("a", env="V")
    assert parse_secret("id=a") == SecretSource("a", src="a")
    assert parse_secret("type=env,id=V") == SecretSource("V", env="V")
    for bad in ("id=a,src=/f,env=V", "bogus", "id=a,x=1", ""):
        with pytest.raises(UserError):
            parse_secret(bad)
