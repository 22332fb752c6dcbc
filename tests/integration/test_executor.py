"""ocibuild.executor.execute as root: real builds into a temporary store.

Each test writes a Dockerfile and a context, builds it, and reads the result
back from the *stored blobs* (unpacked into a fresh snapshot dir, not the
executor's own snapshots).  The expectations were checked against Docker
20.10's BuildKit on this machine.
"""

from __future__ import annotations

import http.server
import io
import os
import stat
import tarfile
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from ocibuild.dockerfile import parse
from ocibuild.errors import UserError
from ocibuild.executor import BuildContext, BuildOptions, BuildResult, execute
from ocibuild.executor.base import image_state
from ocibuild.layer import open_layer_tar, store_layer
from ocibuild.oci import ContainerConfig, ImageConfig
from ocibuild.plan import plan
from ocibuild.snapshot import RootView, Snapshots
from ocibuild.store import Store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.root

EPOCH = 1_700_000_000


@dataclass
class Env:
    tmp: Path
    store: Store
    ctx: Path

    def write(self, name: str, content: str | bytes = "x\n", mode: int = 0o644) -> Path:
        path = self.ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(data)
        path.chmod(mode)
        return path

    def build(self, dockerfile: str, **options: object) -> BuildResult:
        graph = plan(parse(dockerfile), build_args=options.pop("build_args", {}))  # type: ignore[arg-type]
        return execute(graph, BuildContext.from_dir(self.ctx), self.store, BuildOptions(**options))  # type: ignore[arg-type]

    def rootfs(self, result: BuildResult) -> RootView:
        layers = image_state(result.image).layers
        check = Snapshots(self.tmp / f"check-{result.manifest.digest.hex[:12]}")
        return RootView(check.ensure(self.store, layers))

    def history(self, result: BuildResult) -> list[tuple[str, bool]]:
        return [(h.created_by, h.empty_layer) for h in result.image.config.history]


def _base_image(store: Store, tmp: Path) -> None:
    root = tmp / "base-rootfs"
    for d in ("etc", "usr/lib", "home/app", "data"):
        (root / d).mkdir(parents=True)
    (root / "etc/passwd").write_text(
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"
    )
    (root / "etc/group").write_text("root:x:0:\napp:x:1001:\nstaff:x:50:\n")
    (root / "lib").symlink_to("usr/lib")
    (root / "data").chmod(0o700)
    os.chown(root / "data", 5, 6)
    blob = store_layer(store, root, clamp_mtime=None)
    config = ImageConfig(
        architecture="amd64",
        os="linux",
        config=ContainerConfig(env=("PATH=/bin", "BASE=1"), on_build=("LABEL from=onbuild",)),
        diff_ids=(blob.diff_id,),
    )
    store.tag("base:latest", store.put_image(config, [blob.descriptor]))


@pytest.fixture
def env(tmp_path: Path) -> Env:
    store = Store(tmp_path / "store")
    _base_image(store, tmp_path)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    return Env(tmp_path, store, ctx)


def mode(view: RootView, path: str) -> tuple[int, int, int]:
    st = view.lstat(path)
    assert st is not None, path
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def read(view: RootView, path: str) -> bytes:
    with view.open(path) as f:
        return f.read()


# -- config and history ---------------------------------------------------------


def test_config_only_steps_history_and_config(env: Env) -> None:
    result = env.build(
        'FROM scratch\nMAINTAINER me\nARG X=y\nENV A=$X\nEXPOSE 80\nUSER 1:2\nCMD ["x"]\n',
        source_date_epoch=EPOCH,
        labels={"l": "v"},
    )
    config = result.image.config
    assert env.history(result) == [
        ("MAINTAINER me", True),
        ("ARG X=y", True),
        ("ENV A=y", True),
        ("EXPOSE map[80/tcp:{}]", True),
        ("USER 1:2", True),
        ('CMD ["x"]', True),
    ]
    assert config.author == "me"
    assert config.created == "2023-11-14T22:13:20Z"
    assert {h.created for h in config.history} == {"2023-11-14T22:13:20Z"}
    assert config.config.env[0].startswith("PATH=/usr/local/sbin")
    assert config.config.labels == (("l", "v"),)
    assert config.diff_ids == ()


def test_bad_run_mount_is_a_clear_error_with_line(env: Env) -> None:
    expected = r'^Dockerfile:3: unsupported mount type "foo"$'
    with pytest.raises(UserError, match=expected) as info:
        env.build("FROM scratch\nENV A=1\nRUN --mount=type=foo,target=/t true\n")
    assert info.value.span is not None and info.value.span.first_line == 3


def test_onbuild_triggers_run_first_and_are_not_inherited(env: Env) -> None:
    result = env.build("FROM base\nLABEL own=1\n")
    config = result.image.config.config
    assert dict(config.labels) == {"from": "onbuild", "own": "1"}
    assert config.on_build == ()
    assert config.env == ("PATH=/bin", "BASE=1")


def test_build_arg_overrides_default_but_not_history(env: Env) -> None:
    result = env.build("FROM scratch\nARG V=def\nENV E=$V\n", build_args={"V": "cli"})
    assert env.history(result)[0] == ("ARG V=def", True)
    assert "E=cli" in result.image.config.config.env


# -- WORKDIR ------------------------------------------------------------------------


def test_workdir_creates_dir_owned_by_user_in_a_layer(env: Env) -> None:
    result = env.build("FROM base\nUSER app\nWORKDIR /home/app/work\nWORKDIR sub\nWORKDIR /data\n")
    view = env.rootfs(result)
    assert mode(view, "/home/app/work/sub") == (0o755, 1000, 1001)
    assert mode(view, "/data") == (0o700, 5, 6)  # existing: untouched
    assert result.image.config.config.working_dir == "/data"
    assert env.history(result)[-3:] == [
        ("WORKDIR /home/app/work", False),
        ("WORKDIR /home/app/work/sub", False),
        ("WORKDIR /data", False),
    ]
    assert len(result.image.config.diff_ids) == 4  # an (empty) layer even for /data


def test_workdir_root_adds_no_layer_and_copy_refuses_urls(env: Env) -> None:
    result = env.build("FROM scratch\nWORKDIR /\n")
    assert env.history(result) == [("WORKDIR /", True)]
    assert result.image.config.diff_ids == ()
    with pytest.raises(UserError, match="Dockerfile:2: source can't be a URL for COPY"):
        env.build("FROM scratch\nCOPY http://example.invalid/x /x\n")


# -- COPY ------------------------------------------------------------------------------


def test_copy_file_dir_and_trailing_slash_rules(env: Env) -> None:
    env.write("a.txt", "hello\n", 0o640)
    env.write("d/sub/f", "f\n")
    env.write("d/g", "g\n", 0o755)
    os.utime(env.ctx / "a.txt", (1000, 1000))
    result = env.build(
        "FROM base\nWORKDIR /w\nCOPY a.txt /file\nCOPY a.txt /dir/\nCOPY a.txt rel\n"
        "COPY d /dd/\nCOPY a.txt /data\nCOPY a.txt /lib/\n"
    )
    view = env.rootfs(result)
    assert read(view, "/file") == b"hello\n"
    assert mode(view, "/file") == (0o640, 0, 0)
    assert view.lstat("/file").st_mtime == 1000  # type: ignore[union-attr]
    assert read(view, "/dir/a.txt") == b"hello\n"
    assert read(view, "/w/rel") == b"hello\n"
    assert sorted(view.listdir("/dd")) == ["g", "sub"]
    assert mode(view, "/dd/g")[0] == 0o755
    assert read(view, "/data/a.txt") == b"hello\n"  # existing dir: the file goes inside
    assert mode(view, "/data") == (0o700, 5, 6)  # copied up with its metadata
    assert read(view, "/usr/lib/a.txt") == b"hello\n"  # dest through a symlink
    assert env.history(result)[-1] == ("COPY a.txt /lib/ # buildkit", False)


def test_copy_chown_names_chmod_and_created_parents(env: Env) -> None:
    env.write("a.txt")
    result = env.build(
        "FROM base\nCOPY --chown=app:staff --chmod=600 a.txt /new/deep/a\n"
        "COPY --chown=7 a.txt /seven\n"
    )
    view = env.rootfs(result)
    assert mode(view, "/new/deep/a") == (0o600, 1000, 50)
    assert mode(view, "/new") == (0o755, 1000, 50)
    assert mode(view, "/seven") == (0o644, 7, 7)
    assert env.history(result)[1][0] == "COPY a.txt /new/deep/a # buildkit"


def test_copy_unknown_user_fails_like_buildkit(env: Env) -> None:
    env.write("a.txt")
    with pytest.raises(UserError, match="Dockerfile:2: unable to find user nobody"):
        env.build("FROM base\nCOPY --chown=nobody a.txt /a\n")


def test_copy_symlinks_and_hardlinks(env: Env) -> None:
    env.write("d/target", "t\n")
    (env.ctx / "d/ln").symlink_to("target")
    os.link(env.ctx / "d/target", env.ctx / "d/hard")
    (env.ctx / "top").symlink_to("d/target")
    result = env.build("FROM scratch\nCOPY d /d/\nCOPY top /named\n")
    view = env.rootfs(result)
    assert stat.S_ISLNK(view.lstat("/d/ln").st_mode)  # type: ignore[union-attr]
    assert view.real_path("/d/ln").readlink().as_posix() == "target"  # type: ignore[union-attr]
    hard, target = view.lstat("/d/hard"), view.lstat("/d/target")
    assert hard is not None and target is not None and hard.st_ino == target.st_ino
    assert stat.S_ISREG(view.lstat("/named").st_mode)  # type: ignore[union-attr]
    assert read(view, "/named") == b"t\n"


def test_copy_wildcards(env: Env) -> None:
    for name in ("a.txt", "b.txt", "c.md", "sub/x.txt"):
        env.write(name)
    result = env.build("FROM scratch\nCOPY *.txt /t/\nCOPY *.nomatch /empty/\nCOPY s?b/*.txt /s/\n")
    view = env.rootfs(result)
    assert view.listdir("/t") == ["a.txt", "b.txt"]
    assert view.lstat("/empty") is None  # BuildKit 20.10: an empty layer, no dest dir
    assert view.listdir("/s") == ["x.txt"]


def test_copy_missing_source_and_multi_source_errors(env: Env) -> None:
    env.write("a")
    env.write("b")
    with pytest.raises(UserError, match='Dockerfile:2: "/missing" not found'):
        env.build("FROM scratch\nCOPY missing /x\n")
    with pytest.raises(UserError, match="destination must be a directory and end with a /"):
        env.build("FROM scratch\nCOPY a b /x\n")


def test_dockerignore_and_escaping_sources(env: Env) -> None:
    env.write("keep", "k\n")
    env.write("secret", "s\n")
    env.write(".dockerignore", "secret\n")
    result = env.build("FROM scratch\nCOPY ../../keep /k\n")
    assert read(env.rootfs(result), "/k") == b"k\n"
    with pytest.raises(UserError, match="not found"):
        env.build("FROM scratch\nCOPY secret /s\n")


def test_copy_from_stage_keeps_owners_and_index(env: Env) -> None:
    env.write("a.txt", "A\n")
    result = env.build(
        "FROM scratch AS one\nCOPY --chown=7:8 a.txt /p/q/r\n"
        "FROM base\nCOPY --from=one /p /fromstage\nCOPY --from=0 /p/q/r /byindex\n"
        "COPY --from=base:latest /etc/group /g\n"
    )
    view = env.rootfs(result)
    assert mode(view, "/fromstage/q/r") == (0o644, 7, 8)
    assert mode(view, "/fromstage") == (0o755, 0, 0)
    assert read(view, "/byindex") == b"A\n"
    assert read(view, "/g").startswith(b"root:x:0:")
    assert env.history(result)[-3][0] == "COPY /p /fromstage # buildkit"


def test_copy_heredoc_parents_and_exclude(env: Env) -> None:
    env.write("src/a/one.txt")
    env.write("src/a/skip.log")
    result = env.build(
        "FROM scratch\nARG WHO=you\nCOPY <<EOF /greet\nhi $WHO\nEOF\n"
        "COPY --parents src/a/one.txt /p/\n"
        "COPY --exclude=*.log src/a /e/\n"
    )
    view = env.rootfs(result)
    assert read(view, "/greet") == b"hi you\n"
    assert mode(view, "/greet") == (0o644, 0, 0)  # moby/buildkit#3992
    assert env.history(result)[1] == ("COPY <<EOF /greet # buildkit", False)
    assert view.listdir("/p/src/a") == ["one.txt"]
    assert view.listdir("/e") == ["one.txt"]


def test_source_date_epoch_clamps_layer_mtimes(env: Env) -> None:
    env.write("new")
    os.utime(env.ctx / "new", (EPOCH + 500, EPOCH + 500))
    result = env.build("FROM scratch\nCOPY new /new\n", source_date_epoch=EPOCH)
    layer = result.image.manifest.layers[-1]
    with open_layer_tar(env.store, layer) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
        assert {m.mtime for m in tar} == {EPOCH}


# -- ADD -----------------------------------------------------------------------------


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uid, info.gid = len(data), 12345, 3, 4
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_add_extracts_archives_by_content(env: Env) -> None:
    env.write("disguised.txt", _tgz({"./t1": b"one", "dir/t2": b"two"}))
    env.write("plain.txt", "plain\n")
    result = env.build("FROM scratch\nADD --chown=9:9 disguised.txt /arch/\nADD plain.txt /p\n")
    view = env.rootfs(result)
    assert read(view, "/arch/t1") == b"one"
    assert read(view, "/arch/dir/t2") == b"two"
    assert mode(view, "/arch/t1") == (0o644, 3, 4)
    assert mode(view, "/arch") == (0o755, 9, 9)  # --chown owns only the created dir
    assert view.lstat("/arch/t1").st_mtime == 12345  # type: ignore[union-attr]
    assert read(view, "/p") == b"plain\n"


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    served = tmp_path / "served"
    served.mkdir()
    (served / "file.tgz").write_bytes(_tgz({"x": b"x"}))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(served), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_add_url_downloads_without_extracting(env: Env, http_server: str) -> None:
    import hashlib

    data = _tgz({"x": b"x"})
    good = "sha256:" + hashlib.sha256(data).hexdigest()
    result = env.build(f"FROM scratch\nADD --checksum={good} {http_server}/file.tgz /dl/\n")
    view = env.rootfs(result)
    assert read(view, "/dl/file.tgz") == data
    assert mode(view, "/dl/file.tgz") == (0o600, 0, 0)
    with pytest.raises(UserError, match="digest mismatch"):
        env.build(f"FROM scratch\nADD --checksum=sha256:{'0' * 64} {http_server}/file.tgz /x\n")


# -- contexts -------------------------------------------------------------------------


def test_context_from_tar_and_named_layout_context(env: Env) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("in-tar.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"tar"))
    buf.seek(0)
    graph = plan(parse("FROM scratch\nCOPY in-tar.txt /t\n"))
    with BuildContext.from_tar(buf) as ctx:
        result = execute(graph, ctx, env.store, BuildOptions())
        root = ctx.root
    assert not root.exists()
    assert read(env.rootfs(result), "/t") == b"tar"


def test_named_contexts_layout_and_directory(env: Env, tmp_path: Path) -> None:
    other = Store(tmp_path / "other-layout")
    _base_image(other, tmp_path / "o")
    other_dir = tmp_path / "named-dir"
    other_dir.mkdir()
    (other_dir / "n.txt").write_text("named\n")
    contexts = {"img": f"oci-layout://{other.root}:latest", "files": str(other_dir)}
    result = env.build(
        "FROM img\nCOPY --from=files n.txt /n\nCOPY --from=img /etc/passwd /pw\n",
        build_contexts=contexts,
    )
    view = env.rootfs(result)
    assert read(view, "/n") == b"named\n"
    assert read(view, "/pw").startswith(b"root:")
    assert dict(result.image.config.config.labels) == {"from": "onbuild"}


def test_copy_link_layer_ignores_the_base(env: Env) -> None:
    env.write("a.txt")
    result = env.build("FROM base\nCOPY --link a.txt /data/\n")
    layer = result.image.manifest.layers[-1]
    with open_layer_tar(env.store, layer) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
        members = {m.name.rstrip("/"): (stat.S_IMODE(m.mode), m.uid) for m in tar}
    assert members == {"data": (0o755, 0), "data/a.txt": (0o644, 0)}


def test_copy_dest_follows_symlinks_but_tree_entries_do_not(env: Env) -> None:
    """BuildKit 20.10: ``COPY a /lib/sub/a`` writes into /usr/lib, but a copied
    tree that meets the ``/lib`` symlink fails (cannot copy to non-directory)."""
    env.write("a.txt", "a\n")
    env.write("files/lib/mod.so", "so\n")
    result = env.build("FROM base\nCOPY a.txt /lib/sub/a\nCOPY files/lib/ /lib/\n")
    view = env.rootfs(result)
    assert stat.S_ISLNK(view.lstat("/lib").st_mode)  # type: ignore[union-attr]
    assert read(view, "/usr/lib/sub/a") == b"a\n"
    assert read(view, "/usr/lib/mod.so") == b"so\n"
    with pytest.raises(UserError, match="Dockerfile:2: cannot copy to non-directory: /lib"):
        env.build("FROM base\nCOPY files/ /\n")


def test_build_pin_is_removed_after_success_and_failure(env: Env) -> None:
    env.write("a")
    env.build("FROM scratch\nCOPY a /a\n")
    with pytest.raises(UserError):
        env.build("FROM scratch\nCOPY a /a\nRUN x\n")
    assert list(env.store.roots_dir.iterdir()) == []
    assert env.store.extra_roots() == []
