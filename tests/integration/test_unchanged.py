"""Unchanged rebuilds (ocibuild.executor.unchanged) through real builds.

A hit is told apart from the full path by ``api._execute``: a hit never
calls it.  Every test has its own store and context; files are aged past
the racy window (``RACY_NS``) before the build that should be remembered.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ocibuild import api
from ocibuild.dockerfile.ignore import IgnoreRules
from ocibuild.executor import unchanged
from ocibuild.export import import_rootfs
from ocibuild.progress import StepCached, StepStarted
from ocibuild.store import Store

if TYPE_CHECKING:
    from collections.abc import Callable

    from ocibuild.executor import BuildResult
    from ocibuild.progress import Event

pytestmark = pytest.mark.root

TAG = "unchanged-test"

DOCKERFILE = (
    "FROM busybox:latest\nENV A=1\nCOPY src/ /src/\n"
    'RUN date +%s%N > /t && echo ran\nCOPY top.txt /top.txt\nCMD ["sh"]\n'
)


class Context:
    """A store with the busybox base, a context, and a count of full-path builds."""

    def __init__(self, tmp: Path, rootfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = tmp / "store"
        store = Store(self.root)
        with rootfs.open("rb") as stream:
            store.tag("busybox:latest", import_rootfs(store, stream, created=0))
        self.ctx = tmp / "ctx"
        (self.ctx / "src" / "sub").mkdir(parents=True)
        (self.ctx / "src" / "a.txt").write_text("a\n")
        (self.ctx / "src" / "sub" / "b.txt").write_text("b\n")
        (self.ctx / "top.txt").write_text("top\n")
        (self.ctx / "Dockerfile").write_text(DOCKERFILE)
        self.full = 0
        real = api._execute

        def counting(*args: object, **kwargs: object) -> BuildResult:
            self.full += 1
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(api, "_execute", counting)
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)

    def build(self, **kwargs: object) -> BuildResult:
        """Build after aging the context past the racy window."""
        time.sleep(unchanged.RACY_NS / 1e9 + 0.02)
        kwargs.setdefault("tags", [TAG])
        return api.build(self.ctx, root=self.root, **kwargs)  # type: ignore[arg-type]

    def hit(self, **kwargs: object) -> BuildResult:
        before = self.full
        result = self.build(**kwargs)
        assert self.full == before, "expected the remembered image, got a full build"
        return result

    def miss(self, **kwargs: object) -> BuildResult:
        before = self.full
        result = self.build(**kwargs)
        assert self.full == before + 1, "expected a full build"
        return result


@pytest.fixture
def c(tmp_path: Path, busybox_rootfs: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    return Context(tmp_path, busybox_rootfs, monkeypatch)


def test_a_rebuild_with_nothing_changed_returns_the_same_image_without_building(
    c: Context,
) -> None:
    first = c.miss()
    second = c.hit()
    assert second.manifest == first.manifest
    assert second.config == first.config
    assert second.image == first.image
    assert second.cache_keys == first.cache_keys
    assert second.final_stage_cache_keys == first.final_stage_cache_keys
    tagged = Store(c.root).resolve(TAG)
    assert tagged is not None and tagged.digest == first.manifest.digest


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda ctx: (ctx / "src/a.txt").write_text("A\n"), id="edit"),
        pytest.param(lambda ctx: _keeping_mtime(ctx / "src/sub/b.txt"), id="edit-keeping-mtime"),
        pytest.param(lambda ctx: (ctx / "src/sub/new.txt").write_text("n\n"), id="add-deep"),
        pytest.param(lambda ctx: (ctx / "src/a.txt").unlink(), id="remove"),
        pytest.param(lambda ctx: (ctx / "src/a.txt").rename(ctx / "src/z.txt"), id="rename"),
        pytest.param(lambda ctx: (ctx / "top.txt").chmod(0o600), id="chmod"),
        pytest.param(lambda ctx: os.symlink("a.txt", ctx / "src/l"), id="symlink"),
        pytest.param(
            lambda ctx: (ctx / "Dockerfile").write_text(DOCKERFILE + "ENV B=2\n"), id="dockerfile"
        ),
        pytest.param(lambda ctx: (ctx / ".dockerignore").write_text("src/sub\n"), id="ignore"),
    ],
)
def test_any_change_to_the_context_takes_the_full_path(
    c: Context, change: Callable[[Path], object]
) -> None:
    first = c.miss()
    change(c.ctx)
    second = c.miss()
    third = c.hit()  # the new inputs are remembered in turn
    assert third.manifest == second.manifest
    assert second.manifest != first.manifest  # every change above reaches the image


def _keeping_mtime(path: Path) -> None:
    st = path.stat()
    path.write_text("B\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_change_to_an_ignored_file_is_no_change(c: Context) -> None:
    (c.ctx / "notes").mkdir()
    (c.ctx / ".dockerignore").write_text("notes\n")
    first = c.miss()
    (c.ctx / "notes" / "todo.txt").write_text("x\n")
    assert c.hit().manifest == first.manifest


@pytest.mark.parametrize(
    "flags",
    [
        {"build_args": {"X": "1"}},
        {"labels": {"l": "v"}},
        {"source_date_epoch": 1000},
        {"network": "none"},
    ],
)
def test_other_settings_are_remembered_apart(c: Context, flags: dict[str, object]) -> None:
    plain = c.miss()
    other = c.miss(**flags)
    assert c.hit().manifest == plain.manifest
    assert c.hit(**flags).manifest == other.manifest


def test_flags_that_must_build_never_take_the_remembered_image(c: Context) -> None:
    c.miss()
    c.miss(no_cache=True)
    c.miss(pull=False, no_cache_filter=["0"])
    c.miss(build_contexts={"busybox:latest": "docker-image://busybox:latest"})


def test_a_moved_base_tag_takes_the_full_path(c: Context, busybox_rootfs: Path) -> None:
    first = c.miss()
    store = Store(c.root)
    with busybox_rootfs.open("rb") as stream:
        store.tag("busybox:latest", import_rootfs(store, stream, created=86400))
    second = c.miss()
    assert second.manifest != first.manifest
    assert c.hit().manifest == second.manifest


def test_a_build_on_its_own_tag_builds_on_its_last_result(c: Context) -> None:
    store = Store(c.root)
    base = store.resolve("busybox:latest")
    assert base is not None
    store.tag("selfimg:latest", base)
    (c.ctx / "Dockerfile").write_text("FROM selfimg\nRUN echo x >> /log\n")
    first = c.miss(tags=["selfimg"])
    second = c.miss(tags=["selfimg"])  # FROM selfimg is now the first result
    assert second.image.manifest.layers[:-1] == first.image.manifest.layers
    third = c.miss(build_args={"B": "selfimg"}, tags=["selfimg"])
    assert len(third.image.manifest.layers) == len(second.image.manifest.layers) + 1


def test_own_tags_are_left_out_unless_a_word_of_the_dockerfile_or_an_arg() -> None:
    text = "FROM base\nCOPY --from=tools:1 /x /x\n"
    assert unchanged.own_tags(["app:latest", "reg:5000/a/b:1"], text, ["v"]) == (
        "app:latest",
        "reg:5000/a/b:1",
    )
    assert unchanged.own_tags(["app:latest", "x/tools:2"], text, []) == ()
    assert unchanged.own_tags(["app:latest"], text, ["registry/app"]) == ()
    assert unchanged.own_tags(["reg:5000/base"], text, []) == ()


def test_pruned_cache_records_take_the_full_path(c: Context) -> None:
    first = c.miss()
    api.prune(c.root, keep_storage=0)  # drops every record; the tagged image stays
    second = c.miss()
    assert second.manifest != first.manifest  # the RUN ran again: new layer, new time


def test_prune_forgets_every_record(c: Context) -> None:
    c.miss()
    records = c.root / "ocibuild" / "unchanged"
    assert len(list(records.iterdir())) == 1
    api.prune(c.root)
    assert list(records.iterdir()) == []
    c.miss()
    c.hit()


def test_a_missing_layer_blob_takes_the_full_path(c: Context) -> None:
    first = c.miss()
    store = Store(c.root)
    store.blob_path(first.image.manifest.layers[-1]).unlink()
    c.miss()


def test_a_no_cache_build_that_replaced_the_records_is_what_a_rebuild_gives(c: Context) -> None:
    c.miss()
    replaced = api.build(c.ctx, root=c.root, no_cache=True)  # untagged: index.json unchanged
    assert c.miss().manifest == replaced.manifest


def test_an_image_created_by_the_clock_is_not_remembered(c: Context) -> None:
    (c.ctx / "Dockerfile").write_text("FROM busybox:latest\nENV A=1\n")
    first = c.miss()
    time.sleep(0.01)
    second = c.miss()
    assert second.manifest != first.manifest  # as before: created is now


def test_an_index_change_during_the_build_is_not_remembered(c: Context) -> None:
    store = Store(c.root)
    base = store.resolve("busybox:latest")
    assert base is not None

    def tag_meanwhile(event: Event) -> None:
        if isinstance(event, StepStarted):
            store.tag(f"other-{event.step}:latest", base)

    c.miss(on_event=tag_meanwhile)
    c.miss()
    c.hit()


def test_a_hit_reports_every_step_cached_as_a_full_rebuild_would(c: Context) -> None:
    c.miss()
    events: list[Event] = []
    full = api.build(c.ctx, root=c.root, tags=[TAG], on_event=events.append, no_cache_filter=["x"])
    assert full.repeatable  # a full rebuild, all hits: its report is the reference
    reference = list(events)
    events.clear()
    c.hit(on_event=events.append)
    assert events == reference
    assert [type(e) for e in events[:2]] == [StepStarted, StepCached]
    assert len(events) == 2 * 4  # FROM, COPY, RUN, COPY


def test_racy_entries_are_seen(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("x")
    rules = IgnoreRules()
    fresh = unchanged.inputs(store, ctx, "-", "FROM scratch\n", rules, {})
    assert fresh is not None and fresh.racy
    time.sleep(unchanged.RACY_NS / 1e9 + 0.02)
    aged = unchanged.inputs(store, ctx, "-", "FROM scratch\n", rules, {})
    assert aged is not None and not aged.racy
    assert (aged.name, aged.content) == (fresh.name, fresh.content)


def test_only_filesystems_stamped_by_this_kernel_count_as_local() -> None:
    mountinfo = (
        "26 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "27 26 0:5 / /mnt/n rw - nfs4 srv:/x rw,vers=4.2\n"
        "28 26 0:46 / /mnt/s rw - fuse.sshfs me@h: rw\n"
        "29 26 0:47 / /tmp rw - tmpfs tmpfs rw\n"
        "30 26 0:48 / /ov rw - overlay overlay rw,lowerdir=/a\n"
        "garbage\n"
    )
    assert unchanged.local_clock_devices(mountinfo) == {
        os.makedev(8, 1),
        os.makedev(0, 47),
        os.makedev(0, 48),
    }
    here = unchanged.local_clock_devices(Path("/proc/self/mountinfo").read_text())
    assert os.stat(Path(__file__)).st_dev in here  # the tests' own checkout


def test_the_cli_prints_a_hit_as_a_cached_rebuild(c: Context) -> None:
    c.miss()
    time.sleep(unchanged.RACY_NS / 1e9 + 0.02)
    code = "import sys; from ocibuild.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run(
        [sys.executable, "-c", code, "--root", str(c.root), "build", "-t", TAG, str(c.ctx)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stderr.count(" CACHED\n") == 4
    assert "#3 [3/4] RUN date +%s%N > /t && echo ran\n#3 CACHED\n" in out.stderr
    assert "ran\n" not in out.stderr.replace("echo ran\n", "")
