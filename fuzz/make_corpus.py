"""Write the generated seeds of fuzz/corpus/ (rerun after changing them; commit the result).

    python fuzz/make_corpus.py

``parser`` seeds are the Dockerfiles of tests/cases/parse and tests/cases/build;
``expand`` and ``ignore`` seeds are written out below; ``layer`` and ``add``
seeds are small archives: an ordinary tree, and the hostile shapes of issue 7
(``../`` and absolute names, a symlink then a write through it, hard links
out, device nodes, whiteouts aimed outside, long PAX names), plain, gzip
(and bzip2/xz for ADD); ``load`` seeds are one small image as each archive
format ``ocibuild load`` reads.  Crash inputs found later are added by hand as
``crash-*`` files and are never overwritten.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = Path(__file__).resolve().parent.parent / "tests" / "cases"

EXPAND = {
    "plain": "hello",
    "vars": "$A ${B} ${EMPTY:-d} ${U-x} ${A:+y} ${A+z}",
    "quotes": "'$A' \"$B\" a\\ b \\$A",
    "trim": "${P#*/} ${P##*/} ${P%/*} ${P%%/*}",
    "replace": "${P/usr/opt} ${P//\\//-} ${P/#/x} ${P/b*/$0}",
    "error": "${U:?must be set}",
    "nested": "${U:-${A:-${B}}}",
    "backtick": '`$A `"x\0X=1\0Y',
    "env": "$X$Y${Z}\0X=1\0Y=a b\0Z=",
}
IGNORE = {
    "basic": "*.log\n!keep.log\nbuild\n\0a.log\nkeep.log\nbuild/x\nsrc/a.log",
    "doublestar": "**/tmp\ndocs/**/*.md\n!docs/README.md"
    "\0tmp/f\na/b/tmp\ndocs/a/b.md\ndocs/README.md",
    "classes": "[a-c]?.txt\n\\*.md\n# comment\n  /lead/  \0b1.txt\n*.md\nlead/x",
    "exclusions": "!a\n!b/**\0a\nb/c",
    "dots": "./a/../b\n../x\n/\0b\n../x\n.",
}


def _tar(members: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
        end = tar.offset  # the end-of-archive blocks follow; drop the record padding
    return out.getvalue()[: end + 2 * tarfile.BLOCKSIZE]


def _entry(
    name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, link, mode, 1000
    return info


def _archives() -> dict[str, bytes]:
    d, r, s, h = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
    tree = [
        (_entry("etc/", d, mode=0o755), b""),
        (_entry("etc/passwd", r), b"root:x:0:0::/root:/bin/sh\n"),
        (_entry("etc/link", s, "passwd"), b""),
        (_entry("etc/hard", h, "etc/passwd"), b""),
        (_entry("bin/", d, mode=0o700), b""),
        (_entry("bin/sh", r, mode=0o4755), b"#!\n"),
    ]
    node = _entry("dev/null", tarfile.CHRTYPE, mode=0o666)
    node.devmajor, node.devminor = 1, 3
    xattr = _entry("x")
    xattr.pax_headers = {"SCHILY.xattr.user.k": "v", "SCHILY.xattr.trusted.overlay.opaque": "y"}
    return {
        "tree": _tar(tree),
        "dotdot": _tar([(_entry("../outside/pwned"), b"x")]),
        "absolute": _tar([(_entry("/outside/abs"), b"x"), (_entry("./a/../../b"), b"y")]),
        "symlink-write": _tar([(_entry("l", s, "../outside"), b""), (_entry("l/pwned"), b"x")]),
        "symlink-abs": _tar([(_entry("l", s, "/"), b""), (_entry("l/tmp/pwned"), b"x")]),
        "hardlink-out": _tar([(_entry("h", h, "../outside/secret"), b"")]),
        "hardlink-sym": _tar(
            [(_entry("l", s, "../outside"), b""), (_entry("h", h, "l/secret"), b"")]
        ),
        "device": _tar([(node, b""), (_entry("fifo", tarfile.FIFOTYPE), b"")]),
        "whiteouts": _tar(
            [(_entry(".wh..."), b""), (_entry("a/.wh..wh..opq"), b""), (_entry("../.wh.x"), b"")]
        ),
        "dir-replaced": _tar([(_entry("a/", d), b""), (_entry("a/b"), b"1"), (_entry("a"), b"2")]),
        "long-pax": _tar([(_entry("d/" * 55 + "f"), b"long")]),
        "gnu-long": _tar([(_entry("g/" * 55 + "f"), b"gnu")], tarfile.GNU_FORMAT),
        "xattrs": _tar([(xattr, b"x")]),
    }


def _images() -> dict[str, bytes]:
    """``load`` seeds: one small image as an OCI layout, a Docker 25 archive
    (OCI layout + manifest.json) and an old docker-save archive (a dir per
    layer, ``repositories``)."""
    import json
    import tempfile

    from ocibuild.export import ArchiveImage, import_rootfs, write_archive
    from ocibuild.oci import Platform
    from ocibuild.store import Store

    d, r = tarfile.DIRTYPE, tarfile.REGTYPE
    rootfs = _tar([(_entry("etc/", d, mode=0o755), b""), (_entry("etc/hostname", r), b"fuzz\n")])
    found: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp)
        manifest = import_rootfs(
            store, io.BytesIO(rootfs), changes=['CMD ["sh"]'], source="fuzz",
            platform=Platform.parse("linux/amd64"), created=0,
        )  # fmt: skip
        image = ArchiveImage(store.image(manifest), ("fuzz:1",))
        for name, docker in (("oci", False), ("docker", True)):
            out = io.BytesIO()
            write_archive(store, [image], out, docker=docker)
            found[name] = out.getvalue()
        config = store.read_blob(image.image.config_desc)
        config_hex = image.image.config_desc.digest.hex
        old = [
            (_entry(f"{config_hex}.json"), config),
            (_entry("l1/", d, mode=0o755), b""),
            (_entry("l1/layer.tar"), rootfs),
            (_entry("manifest.json"), json.dumps([{
                "Config": f"{config_hex}.json", "RepoTags": ["fuzz:1"], "Layers": ["l1/layer.tar"],
            }]).encode()),
            (_entry("repositories"), b'{"fuzz":{"1":"l1"}}'),
        ]  # fmt: skip
        found["docker-old"] = _tar(old)
    return found


def _write(target: str, name: str, data: bytes) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def main() -> None:
    for group in ("parse/ok", "parse/bad", "build"):
        for dockerfile in sorted((CASES / group).glob("*/Dockerfile")):
            name = f"{group.replace('/', '-')}-{dockerfile.parent.name}"
            _write("parser", name, dockerfile.read_bytes())
    for name, text in EXPAND.items():
        _write("expand", name, text.encode())
    for name, text in IGNORE.items():
        _write("ignore", name, text.encode())
    for name, data in _archives().items():
        _write("layer", name + ".tar", data)
        _write("add", name + ".tar", data)
    tree = _archives()["tree"]
    for target in ("layer", "add"):
        _write(target, "tree.tar.gz", gzip.compress(tree, mtime=0))
    _write("add", "tree.tar.bz2", bz2.compress(tree))
    _write("add", "tree.tar.xz", lzma.compress(tree))
    _write("layer", "tree.tar.zst", _zstd(tree))
    for name, data in _images().items():
        _write("load", name + ".tar", data)
    _write("load", "docker.tar.gz", gzip.compress(_images()["docker"], mtime=0))


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=3).compress(data)


if __name__ == "__main__":
    main()
