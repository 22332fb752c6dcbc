"""ocibuild.executor.named (value parsing) and the package's public names."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import pytest

from ocibuild.errors import ContextError
from ocibuild.executor.context import BuildContext
from ocibuild.executor.named import _choose, _split_tag, open_named
from ocibuild.oci import Descriptor, Digest, mediatypes

if TYPE_CHECKING:
    from pathlib import Path


def test_public_names() -> None:
    package = importlib.import_module("ocibuild.executor")
    assert sorted(package.__all__) == [
        "BuildContext",
        "BuildOptions",
        "BuildResult",
        "execute",
    ]
    for name in package.__all__:
        assert hasattr(package, name)


@pytest.mark.parametrize(
    ("spec", "split"),
    [
        ("/x/layout", ("/x/layout", None)),
        ("/x/layout:v1", ("/x/layout", "v1")),
        ("rel:tag", ("rel", "tag")),
    ],
)
def test_split_tag(spec: str, split: tuple[str, str | None]) -> None:
    assert _split_tag(spec) == split


def _desc(ref: str | None) -> Descriptor:
    notes = ((mediatypes.REF_NAME_ANNOTATION, ref),) if ref else ()
    digest = Digest.from_bytes(ref.encode() if ref else b"")
    return Descriptor(mediatypes.OCI_MANIFEST, digest, 1, annotations=notes)


def test_choose_by_tag_or_single() -> None:
    one = _desc(None)
    assert _choose((one,), None, "d") is one
    a, b = _desc("v1"), _desc("img:latest")
    assert _choose((a, b), "v1", "d") is a
    assert _choose((a, b), None, "d") is b
    with pytest.raises(ContextError, match="no image tagged 'v2'"):
        _choose((a, b), "v2", "d")


def test_directory_and_missing_values(tmp_path: Path) -> None:
    found = open_named(str(tmp_path), store=None, platform=None)  # type: ignore[arg-type]
    assert isinstance(found, BuildContext) and found.root == tmp_path.resolve()
    with pytest.raises(ContextError, match="no such file"):
        open_named(str(tmp_path / "nope"), store=None, platform=None)  # type: ignore[arg-type]
