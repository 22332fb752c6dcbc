"""``ocibuild history``: Docker's layer size, reading entries from a store, and the
rendering of docker history's table, flags and ``--format`` templates."""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
from pathlib import Path

import pytest

from ocibuild import cli
from ocibuild.history import (
    MISSING,
    HistoryItem,
    HistoryView,
    TemplateError,
    content_size,
    image_history,
    render_history,
)
from ocibuild.history.render import tabwrite
from ocibuild.oci import HistoryEntry, ImageConfig, mediatypes
from ocibuild.oci.digest import Digest
from ocibuild.store import Store

CASES = Path(__file__).resolve().parents[1] / "cases"
NOW = dt.datetime(2024, 1, 2, 3, 4, 25, tzinfo=dt.UTC)
IMAGE_ID = "sha256:b709f560304ce701f2711d5de0732cbbabc8a733bc9b9b8e968559f02e9fb2bf"
RUN = 'RUN /bin/sh -c echo hello > /b.txt && echo "quote\\"d" # buildkit'
BK = "buildkit.dockerfile.v0"
ITEMS = (
    HistoryItem(IMAGE_ID, "2024-01-02T03:04:05.123456789Z", 'CMD ["sh"]', 0, BK),
    HistoryItem(MISSING, "2024-01-02T03:04:05Z", "WORKDIR /app", 0, BK),
    HistoryItem(MISSING, "2024-01-02T03:04:05Z", RUN, 6, BK),
    HistoryItem(MISSING, "2024-01-02T03:04:05Z", "COPY a.txt /a.txt # buildkit", 3, BK),
    HistoryItem(MISSING, "2023-12-31T03:04:05Z", "", 1982821, "Imported from -"),
)


def _render(**view: object) -> list[str]:
    return render_history(ITEMS, HistoryView(now=NOW, **view))  # type: ignore[arg-type]


def test_default_table_is_dockers() -> None:
    # What /usr/bin/docker history (20.10) printed for the same entries.
    expected = (CASES / "history" / "docker-table.txt").read_text(encoding="utf-8")
    assert _render() == expected.splitlines()


def test_not_human_shows_created_at_and_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    lines = _render(human=False)
    assert lines[0].split() == ["IMAGE", "CREATED", "AT", "CREATED", "BY", "SIZE", "COMMENT"]
    assert "2024-01-02T03:04:05Z" in lines[1]
    assert lines[-1].split()[-4] == "1982821"


def test_no_trunc_and_quiet() -> None:
    lines = _render(trunc=False)
    assert lines[1].startswith(IMAGE_ID + "   ")
    assert RUN in lines[3]
    assert _render(quiet=True) == ["b709f560304c", *[MISSING] * 4]
    assert _render(quiet=True, trunc=False)[0] == IMAGE_ID


def test_plain_template() -> None:
    fmt = "{{.ID}}|{{.CreatedSince}}|{{ .CreatedAt }}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}"
    line = _render(format=fmt)[1]
    assert line.split("|")[0] == MISSING
    assert line.split("|")[1:3] == ["20 seconds ago", _render(format="{{.CreatedAt}}")[1]]
    assert line.endswith("|WORKDIR /app|0B|buildkit.dockerfile.v0")
    # -q only changes the table format, as in docker
    assert _render(format="{{.Size}}", quiet=True) == ["0B", "0B", "6B", "3B", "1.98MB"]
    assert _render(format="{{.ID}}\\t{{.Size}}")[0] == "b709f560304c\t0B"


def test_table_template_has_headers_and_minimum_width() -> None:
    lines = _render(format="table {{.ID}}\\t{{.Size}}\\t{{.CreatedBy}}")
    assert lines[:2] == [
        "IMAGE          SIZE      CREATED BY",
        'b709f560304c   0B        CMD ["sh"]',
    ]
    assert lines[-1] == "<missing>      1.98MB"
    assert _render(format="table") == _render()


def test_json_lines() -> None:
    first = json.loads(_render(format="json")[0])
    assert first["ID"] == "b709f560304c"
    assert sorted(first) == ["Comment", "CreatedAt", "CreatedBy", "CreatedSince", "ID", "Size"]


@pytest.mark.parametrize("fmt", ["{{.Foo}}", "{{json .}}", "{{.ID}} {{range .}}"])
def test_unknown_template_actions_are_user_errors(fmt: str) -> None:
    with pytest.raises(TemplateError, match="template parsing error"):
        _render(format=fmt)


def test_tabwrite_pads_all_but_the_last_cell() -> None:
    assert tabwrite(["a\tbb\tc", "aaaaaaaaaaaa\tb\t"]) == [
        "a              bb        c",
        "aaaaaaaaaaaa   b",
    ]


def _tar(entries: list[tuple[tarfile.TarInfo, bytes]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_content_size_counts_files_and_symlinks_once() -> None:
    layer = _tar([
        (_info("d", tarfile.DIRTYPE), b""),
        (_info("d/f"), b"hello"),
        (_info("d/hard", tarfile.LNKTYPE, "d/f"), b""),
        (_info("d/link", tarfile.SYMTYPE, "f"), b""),
        (_info("d/.wh.gone"), b""),
    ])  # fmt: skip
    assert content_size(layer) == 5 + 1
    layer.seek(0)
    assert content_size(layer, seekable=True) == 6


def _stored(tmp_path: Path) -> tuple[Store, Digest]:
    store = Store(tmp_path / "store")
    blob = _tar([(_info("a.txt"), b"hi\n"), (_info("sh", tarfile.SYMTYPE, "busybox"), b"")])
    layer = store.put_bytes(blob.getvalue(), mediatypes.OCI_LAYER)
    history = (
        HistoryEntry("2024-01-01T00:00:00Z", "COPY a.txt /a.txt # buildkit", comment="c1"),
        HistoryEntry("2024-01-01T00:00:01Z", "ENV A=1", comment="c2", empty_layer=True),
    )
    diff_id = Digest.from_bytes(blob.getvalue())
    config = ImageConfig(architecture="amd64", os="linux", diff_ids=(diff_id,), history=history)
    manifest = store.put_image(config, [layer])
    store.tag("app:1", manifest)
    return store, store.image(manifest).config_desc.digest


def test_image_history_reads_newest_first_with_layer_sizes(tmp_path: Path) -> None:
    store, image_id = _stored(tmp_path)
    items = image_history(store, store.image("app:1"))
    assert items == (
        HistoryItem(str(image_id), "2024-01-01T00:00:01Z", "ENV A=1", 0, "c2"),
        HistoryItem(MISSING, "2024-01-01T00:00:00Z", "COPY a.txt /a.txt # buildkit", 3 + 7, "c1"),
    )


def test_cli_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, image_id = _stored(tmp_path)
    root = str(store.root)
    assert cli.main(["history", "--root", root, "-q", "--no-trunc", "app:1"]) == 0
    assert capsys.readouterr().out.split() == [str(image_id), MISSING]
    assert cli.main(["history", "--root", root, "-H=false", "--format", "{{.Size}}", "app:1"]) == 0
    assert capsys.readouterr().out.split() == ["0", "10"]
    assert cli.main(["history", "--root", root, "--human", "false", "app:1"]) == 0
    assert "CREATED AT" in capsys.readouterr().out


def test_cli_history_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "store")
    assert cli.main(["history", "--root", root, "nosuch:img"]) == 1
    assert capsys.readouterr().err == "ocibuild: no such image: nosuch:img\n"
    store, _ = _stored(tmp_path)
    assert cli.main(["history", "--root", str(store.root), "--format", "{{.X}}", "app:1"]) == 1
    assert capsys.readouterr().err.startswith("ocibuild: template parsing error")
    assert cli.main(["history", "--root", root, "-H=maybe", "app:1"]) == 2
