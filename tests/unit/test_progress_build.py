"""Events of real builds (FROM scratch + COPY: no root needed) and of a registry pull."""

from __future__ import annotations

import io
import threading
from typing import TYPE_CHECKING

import pytest

from ocibuild import api
from ocibuild.errors import UserError
from ocibuild.executor.step_progress import shown_text
from ocibuild.oci import Descriptor, Digest, Manifest, Reference, mediatypes
from ocibuild.oci._json import canonical
from ocibuild.progress import (
    OutputLine,
    StepCached,
    StepDone,
    StepFailed,
    StepStarted,
    Transfer,
)
from ocibuild.registry import Authenticator, RegistryClient, Request, Response, pull
from ocibuild.store import Store

if TYPE_CHECKING:
    from pathlib import Path

    from ocibuild.progress import Event


class _Events:
    """A thread-safe list of events."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[Event] = []

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.items.append(event)

    def labels(self) -> dict[int, str]:
        return {e.step: e.label for e in self.items if isinstance(e, StepStarted)}

    def ends(self) -> dict[int, list[str]]:
        ends: dict[int, list[str]] = {}
        for e in self.items:
            if isinstance(e, StepCached | StepDone | StepFailed):
                ends.setdefault(e.step, []).append(type(e).__name__)
        return ends


def _context(tmp_path: Path, dockerfile: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "a.txt").write_text("a\n")
    (ctx / "b.txt").write_text("b\n")
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


def test_a_build_reports_each_layer_step_and_its_cache_hit(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM scratch\nENV A=1\nCOPY a.txt /a\nWORKDIR /w\nCOPY b.txt .\n")
    root = tmp_path / "store"
    first = _Events()
    api.build(ctx, root=root, on_event=first)
    assert first.labels() == {
        1: "[1/3] COPY a.txt /a",
        2: "[2/3] WORKDIR /w",
        3: "[3/3] COPY b.txt .",
    }
    assert first.ends() == {1: ["StepDone"], 2: ["StepDone"], 3: ["StepDone"]}
    layer_writes = [e for e in first.items if isinstance(e, Transfer) and e.finished]
    assert {e.step for e in layer_writes} == {1, 2, 3}
    assert all(e.what == "layer" and e.done > 0 for e in layer_writes)
    (ctx / "b.txt").write_text("changed\n")
    second = _Events()
    api.build(ctx, root=root, on_event=second)
    assert second.ends() == {1: ["StepCached"], 2: ["StepCached"], 3: ["StepDone"]}


def test_stages_built_at_once_report_from_their_threads(tmp_path: Path) -> None:
    dockerfile = (
        "FROM scratch AS one\nCOPY a.txt /a\n"
        "FROM scratch AS two\nCOPY b.txt /b\n"
        "FROM scratch\nCOPY --from=one /a /a\nCOPY --from=two /b /b\n"
    )
    events = _Events()
    api.build(_context(tmp_path, dockerfile), root=tmp_path / "store", jobs=2, on_event=events)
    labels = events.labels()
    assert sorted(labels.values()) == [
        "[one 1/1] COPY a.txt /a",
        "[stage-2 1/2] COPY --from=one /a /a",
        "[stage-2 2/2] COPY --from=two /b /b",
        "[two 1/1] COPY b.txt /b",
    ]
    assert sorted(labels) == [1, 2, 3, 4]
    assert events.ends() == {n: ["StepDone"] for n in labels}


def test_a_failed_step_is_reported_before_the_error_is_raised(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM scratch\nCOPY a.txt /a\nCOPY missing.txt /m\n")
    events = _Events()
    with pytest.raises(UserError, match=r"^Dockerfile:3: .*missing\.txt"):
        api.build(ctx, root=tmp_path / "store", on_event=events)
    failed = [e for e in events.items if isinstance(e, StepFailed)]
    assert [e.step for e in failed] == [2]
    assert "missing.txt" in failed[0].message
    assert not failed[0].message.startswith("Dockerfile:")


def test_without_a_listener_the_run_output_callback_still_works(tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM scratch\nCOPY a.txt /a\n")
    chunks: list[bytes] = []
    api.build(ctx, root=tmp_path / "store", run_output=chunks.append)
    assert chunks == []  # no RUN: nothing printed, nothing failed


def _serve(blobs: dict[str, tuple[str, bytes]]) -> RegistryClient:
    def transport(request: Request) -> Response:
        ref = request.url.rpartition("/")[2]
        media_type, data = blobs.get(ref, ("", b""))
        stream = io.BytesIO(data)
        status = 200 if ref in blobs else 404
        headers = {"content-type": media_type}
        return Response(status, headers, request.url, stream.read, stream.close)

    return RegistryClient("reg.test", transport, Authenticator("reg.test", transport, None))


def test_a_pull_reports_the_manifest_and_each_blob_it_fetches(tmp_path: Path) -> None:
    blobs: dict[str, tuple[str, bytes]] = {}

    def blob(media_type: str, data: bytes) -> Descriptor:
        blobs[str(Digest.from_bytes(data))] = (media_type, data)
        return Descriptor(media_type, Digest.from_bytes(data), len(data))

    config = blob(mediatypes.OCI_CONFIG, canonical({"architecture": "amd64", "os": "linux"}))
    layer = blob(mediatypes.OCI_LAYER, b"x" * 3000)
    manifest = Manifest(config, (layer,)).to_json()
    blobs["v1"] = (mediatypes.OCI_MANIFEST, manifest)
    events = _Events()
    pull(Store(tmp_path), Reference.parse("reg.test/app:v1"), _serve(blobs), on_event=events)
    finished = [e for e in events.items if isinstance(e, Transfer) and e.finished]
    assert [(e.what, e.name, e.done) for e in finished] == [
        ("pull", str(Digest.from_bytes(manifest)), len(manifest)),
        ("pull", str(config.digest), config.size),
        ("pull", str(layer.digest), 3000),
    ]
    assert all(e.step is None for e in events.items if isinstance(e, Transfer))
    assert not any(isinstance(e, OutputLine) for e in events.items)


@pytest.mark.parametrize(
    ("original", "shown"),
    [
        ("WORKDIR $APP", "WORKDIR /srv/app"),
        ("run echo \"a  b\" $APP '$APP' ${APP}", "RUN echo \"a  b\" /srv/app '$APP' /srv/app"),
        ("COPY ${NOPE} ${APP:-x} \\$APP .", "COPY ${NOPE} ${APP:-x} \\$APP ."),
        ("RUN <<EOF\necho hi\nEOF", "RUN <<EOF"),
    ],
)
def test_step_text_substitutes_variables_as_buildkit_shows_them(original: str, shown: str) -> None:
    assert shown_text(original, {"APP": "/srv/app"}) == shown
