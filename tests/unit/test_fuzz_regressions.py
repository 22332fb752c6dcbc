"""Inputs the fuzzers (fuzz/targets.py) once crashed on: each must now be a user error.

Every case here has its input in fuzz/corpus/<target>/crash-*, so the fuzzers
replay it too; this file says what the fixed behaviour is.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import tarfile
from typing import TYPE_CHECKING

import pytest

from ocibuild.errors import ContextError
from ocibuild.executor.add import extract_archive, is_archive
from ocibuild.executor.upper import Upper
from ocibuild.layer import LayerError, apply_layer, decompressed
from ocibuild.snapshot import RootView

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

CORPUS = __import__("pathlib").Path(__file__).resolve().parents[2] / "fuzz" / "corpus"


def _tar(*files: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


_NOISE = random.Random(7).randbytes(3000)  # incompressible: truncation cuts real data
TREE = _tar(("a", _NOISE), ("b", b"y" * 3000))


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def _unpack(blob: bytes, dest: Path) -> None:
    with decompressed(io.BytesIO(blob)) as stream:
        apply_layer(stream, dest, label="layer sha256:abc")


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param((CORPUS / "layer" / "crash-zstd-546949ce").read_bytes(), id="fuzzed-zstd"),
        pytest.param(gzip.compress(TREE)[:-300], id="truncated-gzip"),
        pytest.param(gzip.compress(TREE)[:40] + b"\xff" * 40, id="corrupt-gzip-body"),
        pytest.param(b"\x1f\x8b\x08\xff" + b"\0" * 40, id="bad-gzip-flags"),
        pytest.param(_zstd(TREE)[:-20], id="truncated-zstd"),
    ],
)
def test_corrupt_compressed_layer_is_a_layer_error(tmp_path: Path, blob: bytes) -> None:
    """Was: ZstdError / EOFError / zlib.error / BadGzipFile with a traceback."""
    with pytest.raises(LayerError, match=r"^layer sha256:abc: (corrupt|not a valid tar)"):
        _unpack(blob, tmp_path)


def test_intact_compressed_layers_still_unpack(tmp_path: Path) -> None:
    for i, blob in enumerate((gzip.compress(TREE), _zstd(TREE), TREE)):
        (tmp_path / str(i)).mkdir()
        _unpack(blob, tmp_path / str(i))
        assert (tmp_path / str(i) / "b").read_bytes() == b"y" * 3000


def _upper(tmp_path: Path) -> Upper:
    (tmp_path / "lower").mkdir(parents=True)
    (tmp_path / "upper").mkdir()
    return Upper(tmp_path / "upper", RootView([tmp_path / "lower"]))


def test_ustar_magic_with_a_bad_header_is_not_an_archive() -> None:
    """Was: is_archive said yes, then tarfile.ReadError escaped extract_archive.

    Docker's IsArchivePath asks for a readable first header: such a file is
    copied as it is, not unpacked.
    """
    data = (CORPUS / "add" / "crash-badsum-56223874").read_bytes()
    assert data[257:262] == b"ustar"
    assert not is_archive(io.BytesIO(data))
    broken = bytearray(TREE)
    broken[148:156] = b"0000000\0"  # checksum of the first header
    assert not is_archive(io.BytesIO(bytes(broken)))


COMPRESSORS: list[Callable[[bytes], bytes]] = [
    lambda d: d,
    gzip.compress,
    bz2.compress,
    lzma.compress,
]


@pytest.mark.parametrize(
    ("compress", "first_header_readable"),
    [
        (COMPRESSORS[0], True),
        (COMPRESSORS[1], True),
        (COMPRESSORS[2], False),
        (COMPRESSORS[3], True),
    ],
    ids=["plain", "gzip", "bzip2", "xz"],
)
def test_truncated_archive_is_a_context_error(
    tmp_path: Path, compress: Callable[[bytes], bytes], first_header_readable: bool
) -> None:
    """Was: tarfile.ReadError (or a codec error) with a traceback."""
    whole = compress(TREE)
    stream = io.BytesIO(whole[: len(whole) * 2 // 3])
    assert is_archive(stream) is first_header_readable  # bzip2 decodes whole blocks only
    if first_header_readable:
        with pytest.raises(ContextError, match=r"^ADD: cannot unpack archive: unexpected end"):
            extract_archive(stream, _upper(tmp_path), "/dest", None)


def test_intact_archives_still_unpack(tmp_path: Path) -> None:
    for i, compress in enumerate(COMPRESSORS):
        stream = io.BytesIO(compress(TREE))
        assert is_archive(stream)
        upper = _upper(tmp_path / str(i))
        extract_archive(stream, upper, "/dest", None)
        assert (upper.root / "dest" / "b").read_bytes() == b"y" * 3000


def _odd_member(field: str, value: float) -> bytes:
    """A one-file tar whose ``field`` holds ``value`` (base-256 or PAX when needed)."""
    info = tarfile.TarInfo("f")
    info.size = 1
    if field == "mtime" and value != value:  # NaN only travels in a PAX record
        info.pax_headers = {"mtime": "nan"}
        fmt = tarfile.PAX_FORMAT
    else:
        setattr(info, field, value)
        fmt = tarfile.GNU_FORMAT  # base-256: negative and huge numbers
    if field == "mode":
        info.mode = 0o644  # tarfile masks modes it writes: patched in below
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        tar.addfile(info, io.BytesIO(b"x"))
    data = bytearray(out.getvalue())
    if field == "mode":
        data[100:108] = _base256(int(value), 8)
        data[148:156] = b" " * 8
        data[148:156] = b"%06o\0 " % sum(data[:512])
    return bytes(data)


def _base256(value: int, width: int) -> bytes:
    """GNU tar's base-256 number: the top bit set, two's complement big-endian."""
    raw = bytearray((value % (1 << (8 * width))).to_bytes(width, "big"))
    raw[0] |= 0x80
    return bytes(raw)


ODD_FIELDS = [
    ("uid", -5),
    ("gid", -1),
    ("gid", 1 << 40),
    ("mode", -1),
    ("mode", 1 << 40),
    ("mtime", 1 << 62),
    ("mtime", float("nan")),
]


@pytest.mark.parametrize(("field", "value"), ODD_FIELDS)
def test_out_of_range_numbers_are_refused_by_apply_layer(
    tmp_path: Path, field: str, value: float
) -> None:
    """Was: OverflowError from os.chown (fuzzed input crash-gid-4cf9f56f) or utime."""
    data = _odd_member(field, value)
    with pytest.raises(LayerError, match=rf"entry 'f' has an invalid {field} "):
        apply_layer(io.BytesIO(data), tmp_path)


@pytest.mark.parametrize(("field", "value"), ODD_FIELDS)
def test_out_of_range_numbers_are_refused_by_add(tmp_path: Path, field: str, value: float) -> None:
    """Was: OverflowError from os.fchmod (fuzzed input crash-mode-c145f948)."""
    stream = io.BytesIO(_odd_member(field, value))
    assert is_archive(stream)
    with pytest.raises(ContextError, match=rf"^ADD: archive entry 'f' has an invalid {field} "):
        extract_archive(stream, _upper(tmp_path), "/dest", None)


def test_fuzzed_inputs_with_odd_numbers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="has an invalid"):
        _unpack((CORPUS / "layer" / "crash-gid-4cf9f56f").read_bytes(), tmp_path)
    stream = io.BytesIO((CORPUS / "add" / "crash-mode-c145f948").read_bytes())
    if is_archive(stream):
        with pytest.raises(ContextError):
            extract_archive(stream, _upper(tmp_path / "b"), "/dest", None)


def _pax_member(record: str, value: str, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo("f")
    info.type = kind
    info.size = 1 if kind == tarfile.REGTYPE else 0
    info.pax_headers = {record: value}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b"x") if info.size else None)
    return out.getvalue()


NUL_CASES = [
    _pax_member("path", "a\0b"),
    _pax_member("path", "d/a\0b/c"),
    _pax_member("linkpath", "x\0y", tarfile.SYMTYPE),
    _pax_member("SCHILY.xattr.user.a\0b", "v"),
]


@pytest.mark.parametrize("data", NUL_CASES, ids=["name", "parent", "link", "xattr"])
def test_nul_bytes_in_names_are_refused(tmp_path: Path, data: bytes) -> None:
    """Was: ValueError("embedded null byte") from os.stat/symlink (crash-nul-* inputs)."""
    with pytest.raises(LayerError, match="has a NUL byte"):
        apply_layer(io.BytesIO(data), tmp_path)
    stream = io.BytesIO(data)
    assert is_archive(stream)
    with pytest.raises(ContextError, match="has a NUL byte"):
        extract_archive(stream, _upper(tmp_path / "add"), "/dest", None)


def test_symlink_with_an_empty_target_is_refused(tmp_path: Path) -> None:
    """Was: FileNotFoundError from os.symlink('') in ADD (crash-emptylink-5ef45a65)."""
    info = tarfile.TarInfo("l")
    info.type = tarfile.SYMTYPE
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info)
    with pytest.raises(LayerError, match="'l' is a symlink with an empty target"):
        apply_layer(io.BytesIO(out.getvalue()), tmp_path)
    stream = io.BytesIO(out.getvalue())
    assert is_archive(stream)
    with pytest.raises(ContextError, match="'l' is a symlink with an empty target"):
        extract_archive(stream, _upper(tmp_path / "add"), "/dest", None)


def test_entry_the_file_system_refuses_is_a_context_error(tmp_path: Path) -> None:
    """A 300-byte name component: ENAMETOOLONG, reported with the entry's name."""
    stream = io.BytesIO(_tar(("n" * 300, b"x")))
    assert is_archive(stream)
    with pytest.raises(ContextError, match="cannot be unpacked: File name too long"):
        extract_archive(stream, _upper(tmp_path), "/dest", None)


BAD_SPARSE = [
    {"GNU.sparse.size": "v"},
    {"GNU.sparse.map": "v"},
    {"GNU.sparse.realsize": "v", "GNU.sparse.major": "1", "GNU.sparse.minor": "0"},
]


@pytest.mark.parametrize("records", BAD_SPARSE, ids=["size", "map", "realsize"])
def test_malformed_pax_sparse_records_are_not_a_valid_tar(
    tmp_path: Path, records: dict[str, str]
) -> None:
    """Was: ValueError from inside tarfile (fuzzed input crash-paxint-39424d96)."""
    info = tarfile.TarInfo("f")
    info.size = 1
    info.pax_headers = records
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(LayerError, match="not a valid tar: invalid header: "):
        apply_layer(io.BytesIO(out.getvalue()), tmp_path)
    assert not is_archive(io.BytesIO(out.getvalue()))  # so ADD copies it as a file
    with pytest.raises(ContextError, match="ADD: cannot unpack archive: invalid header"):
        extract_archive(io.BytesIO(out.getvalue()), _upper(tmp_path / "add"), "/dest", None)
