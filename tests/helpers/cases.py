"""Build cases: tests/cases/build/<name>/ with a Dockerfile, a context/ dir
and an optional args.json.

args.json keys (all optional):
  build_args   {"NAME": "value"}            --build-arg NAME=value
  target       "stage"                      --target stage
  dockerfile   "Dockerfile.other"           instead of Dockerfile
  parent       {"dockerfile": "Dockerfile.parent", "tag": "name"}
               built first, by each builder, under that tag (e.g. ONBUILD)
  setup        [["mkdir", "d"], ["hardlink", "src", "dst"],
                ["symlink", "target", "link"], ["chmod", "0600", "p"],
                ["tar", "out.tar.gz", "srcdir"], ["write", "p", "text"]]
               steps run on a fresh copy of context/ for what git cannot
               hold (empty dirs, hardlinks, modes, archives)
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CASES_DIR = Path(__file__).resolve().parent.parent / "cases" / "build"


@dataclass(frozen=True, slots=True)
class Parent:
    dockerfile: str
    tag: str


@dataclass(frozen=True, slots=True)
class BuildCase:
    name: str
    directory: Path
    dockerfile: str = "Dockerfile"
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    parent: Parent | None = None
    setup: tuple[tuple[str, ...], ...] = ()

    def tag(self, builder: str) -> str:
        """The image name a builder gives this case's result."""
        return f"ocibuild-conformance-{self.name}:{builder}"

    def dockerfile_path(self, name: str | None = None) -> Path:
        return self.directory / (name or self.dockerfile)

    def prepare_context(self, dest: Path) -> Path:
        """Copy context/ to dest (fresh) and run the setup steps there."""
        source = self.directory / "context"
        if source.is_dir():
            shutil.copytree(source, dest, symlinks=True)
        else:
            dest.mkdir(parents=True)
        for step in self.setup:
            _run_setup(dest, step)
        return dest


def _deterministic_tar(out: Path, src: Path) -> None:
    mode = {"gz": "w:gz", "bz2": "w:bz2", "xz": "w:xz"}.get(out.suffix.lstrip("."), "w")

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 1672531200, 0, 0, "", ""
        return info

    with tarfile.open(out, mode, format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for path in sorted(src.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(src)), recursive=False, filter=clean)


def _run_setup(root: Path, step: tuple[str, ...]) -> None:
    verb, *args = step
    match verb:
        case "mkdir":
            (root / args[0]).mkdir(parents=True, exist_ok=True)
        case "hardlink":
            os.link(root / args[0], root / args[1])
        case "symlink":
            os.symlink(args[0], root / args[1])
        case "chmod":
            os.chmod(root / args[1], int(args[0], 8))
        case "tar":
            _deterministic_tar(root / args[0], root / args[1])
        case "write":
            (root / args[0]).write_text(args[1])
        case _:
            raise ValueError(f"unknown setup step {verb!r}")


def load_case(directory: Path) -> BuildCase:
    args: dict[str, Any] = {}
    if (directory / "args.json").is_file():
        args = json.loads((directory / "args.json").read_text())
    parent = args.get("parent")
    return BuildCase(
        name=directory.name,
        directory=directory,
        dockerfile=args.get("dockerfile", "Dockerfile"),
        build_args=dict(args.get("build_args", {})),
        target=args.get("target"),
        parent=Parent(parent["dockerfile"], parent["tag"]) if parent else None,
        setup=tuple(tuple(step) for step in args.get("setup", ())),
    )


def all_cases() -> list[BuildCase]:
    return [load_case(d) for d in sorted(CASES_DIR.iterdir()) if d.is_dir()]
