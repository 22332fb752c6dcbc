"""Byte-exact tar headers: one :class:`TarEntry` in, ustar (+ PAX) blocks out.

This module owns the on-disk tar format ocibuild writes, and nothing else: no
file system access.  Headers follow Go's ``archive/tar`` (which BuildKit and
containerd use) as closely as is useful:

* ustar magic ``ustar\\0`` version ``00``; octal fields zero-padded and NUL
  terminated; the checksum as six octal digits, NUL, space;
* the mode field holds the full ``st_mode`` including the file type bits;
* a PAX extended header (type ``x``, named ``DIR/PaxHeaders.0/BASE``, all its
  numbers zero) only when a value does not fit ustar: long or non-ASCII names,
  big sizes/ids/times, and every xattr (``SCHILY.xattr.KEY``); its records
  are sorted by key;
* no atime/ctime, empty uname/gname, integral seconds;
* the archive ends with two zero blocks (no padding to a 10 KiB record).
"""

from __future__ import annotations

from ocibuild._record import record

__all__ = [
    "BLOCK",
    "END_OF_ARCHIVE",
    "TarEntry",
    "encode_header",
    "padding",
]

BLOCK = 512
END_OF_ARCHIVE = bytes(2 * BLOCK)

REGTYPE = b"0"
LNKTYPE = b"1"
SYMTYPE = b"2"
CHRTYPE = b"3"
BLKTYPE = b"4"
DIRTYPE = b"5"
FIFOTYPE = b"6"
XHDTYPE = b"x"

_NAME_SIZE = 100
_PREFIX_SIZE = 155


@record
class TarEntry:
    """Everything ocibuild records about one archive member."""

    name: bytes  # relative, no leading "./"; directories end in "/"
    typeflag: bytes
    mode: int
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime: int = 0
    linkname: bytes = b""
    devmajor: int = 0
    devminor: int = 0
    xattrs: tuple[tuple[str, bytes], ...] = ()


def padding(size: int) -> bytes:
    """The zero bytes that round ``size`` up to a whole block."""
    return bytes(-size % BLOCK)


def encode_header(entry: TarEntry) -> bytes:
    """The header block(s) for ``entry``: an optional PAX header, then ustar."""
    records: dict[str, bytes] = {}
    name_field, prefix_field = _split_name(entry.name)
    if name_field is None:
        records["path"] = entry.name
        name_field, prefix_field = _ascii_prefix(entry.name, _NAME_SIZE), b""
    linkname = entry.linkname
    if len(linkname) > _NAME_SIZE or not linkname.isascii():
        records["linkpath"] = linkname
        linkname = _ascii_prefix(linkname, _NAME_SIZE)
    numbers = {
        "uid": (entry.uid, 8),
        "gid": (entry.gid, 8),
        "size": (entry.size, 12),
        "mtime": (entry.mtime, 12),
    }
    for key, (number, width) in numbers.items():
        if not _fits_octal(number, width):
            records[key] = str(number).encode()
    for key, value in entry.xattrs:
        records["SCHILY.xattr." + key] = value
    fields = _Fields(
        name=name_field,
        mode=entry.mode,
        uid=entry.uid if "uid" not in records else 0,
        gid=entry.gid if "gid" not in records else 0,
        size=entry.size if "size" not in records else 0,
        mtime=entry.mtime if "mtime" not in records else 0,
        typeflag=entry.typeflag,
        linkname=linkname,
        devmajor=entry.devmajor,
        devminor=entry.devminor,
        prefix=prefix_field,
    )
    block = _ustar_block(fields)
    if not records:
        return block
    return _pax_blocks(entry.name, records) + block


@record
class _Fields:
    name: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    typeflag: bytes
    linkname: bytes
    devmajor: int
    devminor: int
    prefix: bytes


def _ustar_block(f: _Fields) -> bytes:
    if not (_fits_octal(f.devmajor, 8) and _fits_octal(f.devminor, 8)):
        raise ValueError(f"device number too large for tar: {f.devmajor}:{f.devminor}")
    head = b"".join(
        (
            _str(f.name, 100),
            _octal(f.mode & 0o7777777, 8),
            _octal(f.uid, 8),
            _octal(f.gid, 8),
            _octal(f.size, 12),
            _octal(f.mtime, 12),
        )
    )
    tail = b"".join(
        (
            f.typeflag,
            _str(f.linkname, 100),
            b"ustar\x0000",
            bytes(32),  # uname
            bytes(32),  # gname
            _octal(f.devmajor, 8),
            _octal(f.devminor, 8),
            _str(f.prefix, _PREFIX_SIZE),
            bytes(12),
        )
    )
    checksum = sum(head) + sum(tail) + 8 * ord(" ")
    block = head + b"%06o\x00 " % checksum + tail
    assert len(block) == BLOCK
    return block


def _pax_blocks(name: bytes, records: dict[str, bytes]) -> bytes:
    data = b"".join(_pax_record(key, records[key]) for key in sorted(records))
    directory, _, base = name.rstrip(b"/").rpartition(b"/")
    pax_name = (directory + b"/" if directory else b"") + b"PaxHeaders.0/" + base
    fields = _Fields(
        name=_ascii_prefix(pax_name, _NAME_SIZE).rstrip(b"/"),
        mode=0,
        uid=0,
        gid=0,
        size=len(data),
        mtime=0,
        typeflag=XHDTYPE,
        linkname=b"",
        devmajor=0,
        devminor=0,
        prefix=b"",
    )
    return _ustar_block(fields) + data + padding(len(data))


def _pax_record(key: str, value: bytes) -> bytes:
    """``"%d %s=%s\\n"`` where the leading length counts the whole record."""
    body = b" " + key.encode() + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def _split_name(name: bytes) -> tuple[bytes | None, bytes]:
    """``(name, prefix)`` ustar fields for ``name``, or ``(None, b"")`` if it needs PAX."""
    if not name.isascii():
        return None, b""
    if len(name) <= _NAME_SIZE:
        return name, b""
    # As Go's splitUSTARPath: the last "/" within the first 156 bytes (a
    # trailing "/" does not count) splits prefix from name.
    length = min(len(name), _PREFIX_SIZE + 1)
    if length == len(name) and name.endswith(b"/"):
        length -= 1
    index = name.rfind(b"/", 0, length)
    rest = len(name) - index - 1
    if index <= 0 or rest == 0 or rest > _NAME_SIZE or index > _PREFIX_SIZE:
        return None, b""
    return name[index + 1 :], name[:index]


def _ascii_prefix(value: bytes, size: int) -> bytes:
    """A best-effort ASCII stand-in for a field that PAX overrides."""
    return bytes(b if b < 0x80 else ord("?") for b in value[:size])


def _fits_octal(value: int, width: int) -> bool:
    return 0 <= value < 1 << (3 * (width - 1))


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def _str(value: bytes, width: int) -> bytes:
    if len(value) > width:
        raise ValueError(f"tar field too long: {value!r}")
    return value + bytes(width - len(value))
