"""Independent stages build at once (``jobs``), with the same result as one at a time.

Overlap is proven without timing: each stage's RUN leaves a marker in a
shared cache mount and waits (bounded) for the other's, which can only
succeed if both RUNs are in flight together.  A failing stage stops the
others: the other stage's long RUN is killed (its "finished" marker never
appears), nothing stays mounted, no sandbox process is left, and the error
names the failing line.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ocibuild import api
from ocibuild.errors import StepFailed
from ocibuild.executor.base import image_state
from ocibuild.snapshot import RootView, Snapshots
from ocibuild.store import Store

if TYPE_CHECKING:
    from ocibuild.executor import BuildResult

pytestmark = pytest.mark.root

WAIT_FOR = "i=0; until [ -e /c/{m} ]; do i=$((i+1)); [ $i -gt 200 ] && exit 7; sleep 0.1; done"


def _cache_run(cache_id: str, script: str) -> str:
    return f"RUN --mount=type=cache,id={cache_id},target=/c,sharing=shared sh -c '{script}'\n"


def _build(root: Path, tmp: Path, dockerfile: str, out: bytearray, **kw: object) -> BuildResult:
    ctx = tmp / f"ctx-{secrets.token_hex(4)}"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    return api.build(ctx, root=root, run_output=out.extend, **kw)  # type: ignore[arg-type]


def _read(root: Path, tmp: Path, result: BuildResult, path: str) -> str:
    layers = image_state(result.image).layers
    view = RootView(Snapshots(tmp / "check").ensure(Store(root), layers))
    text = view.read_text(path)
    assert text is not None, path
    return text


def _mounts_under(root: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if str(root.resolve()) in line]


def _processes_with(token: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and token.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_independent_stages_run_at_once(
    ocibuild_root: Path, ocibuild_base: str, tmp_path: Path
) -> None:
    cid = f"meet-{secrets.token_hex(4)}"
    dockerfile = (
        f"FROM {ocibuild_base} AS left\n"
        + _cache_run(
            cid, f"echo left-waiting; touch /c/left; {WAIT_FOR.format(m='right')}; echo ok > /saw"
        )
        + f"FROM {ocibuild_base} AS right\n"
        + _cache_run(
            cid, f"echo right-waiting; touch /c/right; {WAIT_FOR.format(m='left')}; echo ok > /saw"
        )
        + f"FROM {ocibuild_base}\n"
        + "COPY --from=left /saw /left-saw\n"
        + "COPY --from=right /saw /right-saw\n"
    )
    out = bytearray()
    result = _build(ocibuild_root, tmp_path, dockerfile, out, jobs=2)
    assert _read(ocibuild_root, tmp_path, result, "/left-saw") == "ok\n"
    assert _read(ocibuild_root, tmp_path, result, "/right-saw") == "ok\n"
    lines = bytes(out).splitlines()
    assert b"[left 1/1] left-waiting" in lines
    assert b"[right 1/1] right-waiting" in lines


def test_jobs_does_not_change_the_image(
    ocibuild_root: Path, ocibuild_base: str, tmp_path: Path
) -> None:
    token = secrets.token_hex(4)
    dockerfile = (
        f"FROM {ocibuild_base} AS one\n"
        f"RUN echo {token}-one > /one && mkdir -p /d/e && echo x > /d/e/f\n"
        f"FROM {ocibuild_base} AS two\n"
        f"RUN echo {token}-two | tee /two\n"
        f"FROM {ocibuild_base} AS three\n"
        "COPY --from=one /one /from-one\n"
        f"RUN echo three >> /from-one\n"
        f"FROM {ocibuild_base}\n"
        "COPY --from=three /from-one /x\n"
        "COPY --from=two /two /y\n"
    )
    digests = set()
    results = []
    for jobs in (1, 2, 2):
        out = bytearray()
        result = _build(
            ocibuild_root,
            tmp_path,
            dockerfile,
            out,
            jobs=jobs,
            no_cache=True,
            source_date_epoch=1_700_000_000,
        )
        digests.add(str(result.manifest.digest))
        results.append(result)
        prefix = b"[two 1/1] " if jobs > 1 else b""  # only when stages may overlap
        assert prefix + f"{token}-two".encode() in bytes(out).splitlines()
    assert len(digests) == 1
    assert _read(ocibuild_root, tmp_path, results[0], "/x") == f"{token}-one\nthree\n"


def test_a_failing_stage_stops_the_others(
    ocibuild_root: Path, ocibuild_base: str, tmp_path: Path
) -> None:
    cid = f"stop-{secrets.token_hex(4)}"
    token = secrets.token_hex(6)
    dockerfile = (
        f"FROM {ocibuild_base} AS slow\n"
        + _cache_run(cid, f"touch /c/started; sleep 30; touch /c/finished; echo {token}")
        + f"FROM {ocibuild_base} AS bad\n"
        + _cache_run(cid, f"{WAIT_FOR.format(m='started')}; exit 3")
        + f"FROM {ocibuild_base} AS never\n"
        + "COPY --from=bad / /\n"
        + f"FROM {ocibuild_base}\n"
        + "COPY --from=slow /c /\n"
        + "COPY --from=never / /\n"
    )
    with pytest.raises(StepFailed) as caught:
        _build(ocibuild_root, tmp_path, dockerfile, bytearray(), jobs=2)
    assert caught.value.span is not None
    assert caught.value.span.first_line == 4
    assert str(caught.value).startswith("Dockerfile:4: ")
    assert "exit code: 3" in str(caught.value)
    cache = ocibuild_root / "ocibuild" / "cache-mounts" / cid
    assert (cache / "started").exists()
    assert not (cache / "finished").exists()  # the slow RUN was stopped, not waited for
    assert _mounts_under(ocibuild_root) == []
    assert _processes_with(token) == []
    assert [p.name for p in (ocibuild_root / "ocibuild" / "tmp").iterdir()] == []
    assert list(Store(ocibuild_root).snapshots_dir.glob("tmp-*")) == []
