"""Progress events of a build that pulls its base and pushes its image (a local registry)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest
from helpers.registry import serve

from ocibuild.api import build
from ocibuild.oci import Reference
from ocibuild.progress import StepCached, StepDone, StepFailed, StepStarted, Transfer
from ocibuild.registry import connect, push
from ocibuild.store import Store
from tests.integration.test_registry import _image

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from ocibuild.progress import Event


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("registry")) as address:
        yield address


def test_pull_and_push_are_reported_as_steps_with_transfers(registry: str, tmp_path: Path) -> None:
    base = f"{registry}/progress-base:1"
    source = Store(tmp_path / "src")
    _image(source, base, b"progress-base")
    ref = Reference.parse(base)
    push(source, source.image(base), ref, connect(ref.domain))
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base}\nENV PUSHED=yes\n")
    events: list[Event] = []
    lock = threading.Lock()

    def on_event(event: Event) -> None:
        with lock:
            events.append(event)

    target = f"{registry}/progress-built:1"
    build(context, root=tmp_path / "b", tags=[target], push=True, on_event=on_event)
    started = [e for e in events if isinstance(e, StepStarted)]
    assert [e.label for e in started] == [
        f"[1/1] FROM {base}",
        f"pushing {Reference.parse(target)}",
    ]
    ends = [type(e) for e in events if isinstance(e, StepCached | StepDone | StepFailed)]
    assert ends == [StepDone, StepDone]
    done = [e for e in events if isinstance(e, Transfer) and e.finished]
    pulled = [e for e in done if e.what == "pull"]
    pushed = [e for e in done if e.what == "push"]
    assert pulled and all(e.step == 1 for e in pulled)
    assert len(pulled) == 3  # the manifest, the config, the layer
    assert pushed and all(e.step == 2 and e.name.startswith("sha256:") for e in pushed)
