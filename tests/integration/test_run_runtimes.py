"""RUN gives the same image whichever OCI runtime carries it out.

One Dockerfile with several kinds of RUN (new files, deletes of lower
entries, chmod/chown, a non-root USER, a heredoc script, a heredoc fed to
a command) is built with SOURCE_DATE_EPOCH set, once per runtime, each into
its own fresh store holding only the busybox base (imported with the same
epoch, so the bases are identical).  The builtin runtime is the reference;
runc and crun are each built when installed and must give the same layer
digests, config digest and manifest digest.  A difference would mean a
runtime leaves something of its own in the upper dir (a mount point, a
device node, a changed mtime) that the layer then records.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from ocibuild import api
from ocibuild.executor.base import image_state
from ocibuild.export import import_rootfs
from ocibuild.store import Store

if TYPE_CHECKING:
    from pathlib import Path

    from ocibuild.executor import BuildResult

pytestmark = pytest.mark.root

EPOCH = 1_700_000_000
BASE = "busybox:latest"
DOCKERFILE = """\
FROM busybox:latest
ENV GREETING=hello
RUN mkdir -p /app/data && echo "$GREETING" > /app/data/greeting && ln -s data /app/link
RUN rm /etc/group && rm -rf /home/app && echo replaced > /etc/motd
RUN chmod 600 /etc/passwd && chown 1000:1000 /tmp && chmod 4755 /app
USER nobody
RUN id > /tmp/id && mkdir /tmp/own
USER root
RUN <<EOF
set -e
echo "one $GREETING" > /app/script
printf 'two\\n' >> /app/script
rm /tmp/id
EOF
RUN cat <<'EOF' > /app/literal
$GREETING stays
EOF
"""


@dataclass(frozen=True, slots=True)
class Built:
    layers: tuple[str, ...]
    config: str
    manifest: str


def build_with(runtime: str, busybox_rootfs: Path, tmp: Path) -> Built:
    """Build DOCKERFILE with ``runtime`` into a new store under ``tmp``."""
    root = tmp / f"store-{runtime}"
    store = Store(root)
    with busybox_rootfs.open("rb") as stream, store.lock():
        store.tag(BASE, import_rootfs(store, stream, created=EPOCH))
    ctx = tmp / f"ctx-{runtime}"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    result: BuildResult = api.build(
        ctx, root=root, runtime=runtime, source_date_epoch=EPOCH, run_output=lambda b: None
    )
    layers = tuple(str(blob.descriptor.digest) for blob in image_state(result.image).layers)
    return Built(layers, str(result.config.digest), str(result.manifest.digest))


@pytest.fixture(scope="module")
def reference(busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_with("builtin", busybox_rootfs, tmp_path_factory.mktemp("runtimes"))


def test_reference_build_has_one_layer_per_run(reference: Built) -> None:
    assert len(reference.layers) == 1 + DOCKERFILE.count("\nRUN ")
    assert len(set(reference.layers)) == len(reference.layers)


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_runtime_gives_the_reference_image(
    runtime: str, reference: Built, busybox_rootfs: Path, tmp_path: Path
) -> None:
    if shutil.which(runtime) is None:
        pytest.skip(f"{runtime} is not installed")
    built = build_with(runtime, busybox_rootfs, tmp_path)
    assert built.layers == reference.layers
    assert built.config == reference.config
    assert built.manifest == reference.manifest
