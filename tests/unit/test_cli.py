"""ocibuild's command line: parsing, flag languages, error mapping and store commands."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from typing import TYPE_CHECKING

import pytest

from ocibuild import cli
from ocibuild._cli_args import UsageError, parse_build_arg_list, parse_build_args, parse_secret
from ocibuild._cli_format import human_duration, human_size, table
from ocibuild.errors import StepFailed, StoreError, out_of_space
from ocibuild.export.outputs import OutputError, OutputSpec, parse_output

if TYPE_CHECKING:
    import argparse
    from pathlib import Path


def _build_ns(*argv: str) -> argparse.Namespace:
    parser = cli._parser()
    return parser.parse_args(["build", *argv])


# ---------------------------------------------------------------- build flags


def test_build_is_the_default_command(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[argparse.Namespace] = []

    def record(ns: argparse.Namespace) -> int:
        seen.append(ns)
        return 0

    monkeypatch.setattr(cli, "_cmd_build", record)
    assert cli.main(["-f", "Dockerfile", "-t", "x", "-t", "y:2", "."]) == 0
    assert seen[0].file == "Dockerfile"
    assert seen[0].tag == ["x", "y:2"]
    assert seen[0].context == "."


def test_build_flags_become_typed_values() -> None:
    ns = _build_ns(
        "--build-arg", "A=1", "--build-arg", "FROM_ENV", "--build-arg", "UNSET",
        "--label", "k=v", "--label", "empty",
        "--build-context", "base=docker-image://busybox",
        "-o", "type=oci,dest=img.tar,name=a:1;b:2", "-o", "out",
        "--secret", "id=tok,src=/run/tok", "--network", "none",
        "--platform", "linux/arm64", "--target", "final", "--no-cache", "--pull",
        "--compression", "zstd", "--iidfile", "iid", "--metadata-file", "meta.json",
        "ctx",
    )  # fmt: skip
    args = parse_build_args(ns, {"FROM_ENV": "env-value"})
    assert args.build_args == {"A": "1", "FROM_ENV": "env-value"}
    assert args.labels == {"k": "v", "empty": ""}
    assert args.build_contexts == {"base": "docker-image://busybox"}
    assert args.outputs == (
        OutputSpec("oci", "img.tar", ("a:1", "b:2")),
        OutputSpec("local", "out"),
    )
    assert args.secrets[0].src == "/run/tok"
    assert (args.network, args.platform, args.target) == ("none", "linux/arm64", "final")
    assert args.no_cache and args.pull and args.compression == "zstd"
    assert (args.iidfile, args.metadata_file) == ("iid", "meta.json")


def test_quiet_means_quiet_progress() -> None:
    assert parse_build_args(_build_ns("-q", "."), {}).progress == "quiet"


def test_dockerfile_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("FROM scratch\n"))
    args = parse_build_args(_build_ns("-f", "-", "."), {})
    assert args.dockerfile is None
    assert args.dockerfile_text == "FROM scratch\n"


def test_stdin_cannot_be_both_dockerfile_and_context() -> None:
    with pytest.raises(UsageError, match="both"):
        parse_build_args(_build_ns("-f", "-", "-"), {})


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--build-arg", "=x"), ("--build-context", "name"), ("--network", "bridge")],
)
def test_malformed_flag_values_are_usage_errors(flag: str, value: str) -> None:
    with pytest.raises(UsageError):
        parse_build_args(_build_ns(flag, value, "."), {})


def test_build_arg_from_environment_is_dropped_when_unset() -> None:
    assert parse_build_arg_list(["A", "B=", "C=x=y"], {}) == {"B": "", "C": "x=y"}


@pytest.mark.parametrize(
    ("text", "src", "env"),
    [
        ("id=a,src=/f", "/f", None),
        ("id=a,source=/f", "/f", None),
        ("id=a,env=VAR", None, "VAR"),
        ("id=a,type=env", None, "a"),
        ("id=a", None, "a"),
    ],
)
def test_secret_forms(text: str, src: str | None, env: str | None) -> None:
    secret = parse_secret(text)
    assert (secret.id, secret.src, secret.env) == ("a", src, env)


@pytest.mark.parametrize("text", ["src=/f", "id=a,type=file", "id=a,bogus=1", "id", "id=a,type=x"])
def test_bad_secrets(text: str) -> None:
    with pytest.raises(UsageError):
        parse_secret(text)


# ------------------------------------------------------------------- outputs


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("out", OutputSpec("local", "out")),
        ("-", OutputSpec("tar", "-")),
        ("type=docker,dest=-", OutputSpec("docker", "-")),
        ("type=oci,dest=x.tar,compression=uncompressed", OutputSpec("oci", "x.tar", (), "none")),
        ("type=image", OutputSpec("image")),
    ],
)
def test_output_specs(text: str, spec: OutputSpec) -> None:
    assert parse_output(text) == spec


@pytest.mark.parametrize(
    "text",
    ["", "type=oci", "dest=x", "type=nope,dest=x", "type=local,dest=-", "type=oci,dest=x,foo=1",
     "type=oci,dest=x,compression=lz4", "type=oci,dest"],
)  # fmt: skip
def test_bad_output_specs(text: str) -> None:
    with pytest.raises(OutputError):
        parse_output(text)


# -------------------------------------------------------------- error mapping


def _with_handler(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def fail(ns: argparse.Namespace) -> int:
        raise exc

    monkeypatch.setattr(cli, "_cmd_build", fail)


def test_user_error_is_one_line_plus_detail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_handler(monkeypatch, StepFailed("RUN exited with code 2", output_tail="boom\nbang"))
    assert cli.main(["."]) == 1
    assert capsys.readouterr().err == "ocibuild: RUN exited with code 2\nboom\nbang\n"


def test_store_error_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_handler(monkeypatch, StoreError("store is locked\nsecond line"))
    assert cli.main(["."]) == 1
    assert capsys.readouterr().err == "ocibuild: store error: store is locked\n"


def test_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_handler(monkeypatch, KeyboardInterrupt())
    assert cli.main(["."]) == 130


def test_bugs_keep_their_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_handler(monkeypatch, ZeroDivisionError("bug"))
    with pytest.raises(ZeroDivisionError):
        cli.main(["."])


@pytest.mark.parametrize(
    "argv", [["--progress", "fancy", "."], ["build"], ["tag", "x"], ["--no-such-flag", "."]]
)
def test_bad_flags_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_no_arguments_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("build", "images", "tag", "rmi", "inspect", "load", "save", "import", "prune"):
        assert command in out


# ------------------------------------------------------------- store commands


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _rootfs_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    return buf.getvalue()


@pytest.fixture
def imported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """A store with one imported image named app:1; returns (root, image ID)."""
    root = str(tmp_path / "store")
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(_rootfs_tar())
    status, out, err = _run(
        capsys, "import", "--root", root, "-c", "CMD [\"/hello\"]", "-c", "ENV A=1 B=$A",
        "-c", "WORKDIR app", str(rootfs), "app:1",
    )  # fmt: skip
    assert (status, err) == (0, "")
    return root, out.strip()


def test_import_applies_changes(
    imported: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, image_id = imported
    status, out, _ = _run(capsys, "inspect", "--root", root, "app:1")
    assert status == 0
    [obj] = json.loads(out)
    assert obj["Id"] == image_id
    assert obj["RepoTags"] == ["app:1"]
    assert obj["Config"]["Cmd"] == ["/hello"]
    assert obj["Config"]["Env"] == ["A=1", "B="]  # one ENV sees the env before it, as docker
    assert obj["Config"]["WorkingDir"] == "/app"
    assert obj["Comment"].startswith("Imported from ")
    assert len(obj["RootFS"]["Layers"]) == 1


def _unpacked(root: str, name: str) -> Path:
    """The snapshot dir of image ``name``'s top layer in the store at ``root``."""
    from ocibuild.snapshot import Snapshots, chain_ids
    from ocibuild.store import Store

    store = Store(root)
    top = chain_ids(store.image(name).config.diff_ids)[-1]
    return Snapshots(store.snapshots_dir).path(top)


def test_import_and_load_unpack_the_image(
    imported: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As docker import/load: the first RUN of a build on it does not unpack it.
    root, _ = imported
    assert (_unpacked(root, "app:1") / "hello").read_bytes() == b"hi"
    archive = tmp_path / "a.tar"
    assert _run(capsys, "save", "--root", root, "-o", str(archive), "app:1")[0] == 0
    other = str(tmp_path / "other")
    assert _run(capsys, "load", "--root", other, "-q", "-i", str(archive)) == (0, "", "")
    assert (_unpacked(other, "app:1") / "hello").read_bytes() == b"hi"


def test_unpack_failure_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ocibuild.snapshot import Snapshots

    def full(*_: object) -> None:
        with out_of_space("unpacking a layer"):  # as Snapshots does
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(Snapshots, "ensure", full)
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(_rootfs_tar())
    root = str(tmp_path / "store")
    status, out, err = _run(capsys, "import", "--root", root, str(rootfs), "app:2")
    assert status == 0 and out.startswith("sha256:")
    assert err == (
        "ocibuild: warning: image left packed (no space left on device while unpacking"
        " a layer); a build unpacks it when a RUN needs it\n"
    )
    assert not _unpacked(root, "app:2").exists()


def test_import_refuses_build_instructions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rootfs = tmp_path / "r.tar"
    rootfs.write_bytes(_rootfs_tar())
    status, _, err = _run(capsys, "import", "--root", str(tmp_path), "-c", "RUN x", str(rootfs))
    assert status == 1
    assert "RUN is not a valid change command" in err


def test_images_tag_rmi(imported: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    root, image_id = imported
    assert _run(capsys, "tag", "--root", root, "app:1", "other/app")[0] == 0
    status, out, _ = _run(capsys, "images", "--root", root)
    lines = out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert sorted(line.split()[0] for line in lines[1:]) == ["app", "other/app"]
    assert all(image_id.removeprefix("sha256:")[:12] in line for line in lines[1:])
    assert _run(capsys, "images", "--root", root, "-q")[1].split() == [image_id[7:19]]
    status, _, err = _run(capsys, "rmi", "--root", root, image_id)
    assert status == 1 and "must be forced" in err
    status, out, _ = _run(capsys, "rmi", "--root", root, "app:1", "nope")
    assert status == 1 and out == "Untagged: app:1\n"
    assert _run(capsys, "images", "--root", root, "-q")[1].split() == [image_id[7:19]]


def test_missing_image_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "inspect", "--root", str(tmp_path), "nope")
    assert (status, json.loads(out)) == (1, [])
    assert err == "ocibuild: no such image: nope\n"
    status, _, err = _run(capsys, "tag", "--root", str(tmp_path), "nope", "x")
    assert (status, err) == (1, "ocibuild: no such image: nope\n")


def test_save_then_load(
    imported: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, image_id = imported
    archive = tmp_path / "a.tar"
    assert _run(capsys, "save", "--root", root, "-o", str(archive), "app:1")[0] == 0
    other = str(tmp_path / "other")
    status, out, _ = _run(capsys, "load", "--root", other, "-i", str(archive))
    assert (status, out) == (0, "Loaded image: app:1\n")
    assert json.loads(_run(capsys, "inspect", "--root", other, "app:1")[1])[0]["Id"] == image_id
    status, _, err = _run(capsys, "load", "--root", other, "-i", str(tmp_path / "missing.tar"))
    assert status == 1 and err.startswith("ocibuild: cannot open")


def test_prune_reports_reclaimed_space(
    imported: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = imported
    _run(capsys, "rmi", "--root", root, "app:1")
    status, out, _ = _run(capsys, "prune", "--root", root)
    assert status == 0
    assert out.startswith("Total reclaimed space: ") and out.strip() != "Total reclaimed space: 0B"


# ------------------------------------------------------------------ formatting


@pytest.mark.parametrize(
    ("size", "text"), [(0, "0B"), (999, "999B"), (4096, "4.1kB"), (1_236_000, "1.24MB")]
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (90, "About a minute"),
     (600, "10 minutes"), (3600, "About an hour"), (7200, "2 hours"), (3 * 86400, "3 days"),
     (20 * 86400, "2 weeks"), (90 * 86400, "3 months"), (800 * 86400, "2 years")],
)  # fmt: skip
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_table_pads_columns() -> None:
    assert table(("A", "BB"), [("xxx", "y")]) == "A     BB\nxxx   y"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--root", "/s", "images"], ["images", "--root", "/s"]),
        (["--root=/s", "save", "-o", "f", "x"], ["save", "--root=/s", "-o", "f", "x"]),
        (["--root", "/s", "-t", "x", "."], ["build", "--root", "/s", "-t", "x", "."]),
        (["--root", "/s", "build", "."], ["build", "--root", "/s", "."]),
        (["images", "--root", "/s"], ["images", "--root", "/s"]),
    ],
)
def test_root_may_come_before_the_command(argv: list[str], expected: list[str]) -> None:
    assert cli._root_after_command(argv) == expected


def test_root_before_a_store_command_uses_that_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--root", str(tmp_path / "s"), "images"]) == 0
    assert "REPOSITORY" in capsys.readouterr().out
    assert (tmp_path / "s" / "index.json").exists()


def test_one_command_parser_gives_the_same_help_as_the_whole_parser() -> None:
    """main() fills in only the command it runs (start-up time): same parser for that command."""
    import contextlib
    import io

    from ocibuild import cli

    full = cli.parser()
    commands = sorted(cli._COMMANDS)
    assert "build" in commands and "fsck" in commands
    for command in commands:
        helps = []
        for parser in (full, cli._parser(only=command)):
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
                parser.parse_args([command, "--help"])
            helps.append(out.getvalue())
        assert helps[0] == helps[1], command
        assert helps[0].startswith(f"usage: ocibuild {command}")


def test_command_module_table_names_each_modules_commands() -> None:
    """main() imports only the running command's module, found in cli._COMMAND_MODULES."""
    import importlib

    from ocibuild import cli

    for module in cli._MODULE_ORDER:
        commands = importlib.import_module(f"ocibuild.{module}").COMMANDS
        assert {c for c, m in cli._COMMAND_MODULES.items() if m == module} == set(commands)
    assert set(cli._COMMAND_MODULES.values()) == set(cli._MODULE_ORDER)


def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path) -> None:
    """``ocibuild images | head -1`` with many lines: exit 0, no traceback (it was an OSError
    handler's re-raise once a disk-full case was added before the broken-pipe one)."""
    code = (
        "from ocibuild import cli\n"
        "from ocibuild._cli_store import Outcome\n"
        "lines = tuple(f'line {i}' for i in range(200000))\n"
        "cli._leave(cli._run(lambda ns: Outcome(out=lines), None))\n"
    )
    proc = subprocess.run(
        f'{sys.executable} -c "$CODE" | head -1',
        shell=True,
        env={"CODE": code, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.stdout == "line 0\n"
    assert "Traceback" not in proc.stderr, proc.stderr


def test_the_program_flushes_its_output_and_keeps_the_status(tmp_path: Path) -> None:
    # cli.run leaves by os._exit: what main printed must still arrive, with its status.
    def program(*argv: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "ocibuild", "--root", str(tmp_path), *argv]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    images = program("images")
    assert (images.returncode, images.stderr) == (0, "")
    assert images.stdout.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    missing = program("inspect", "nope")
    assert (missing.returncode, missing.stdout) == (1, "[]\n")
    assert missing.stderr == "ocibuild: no such image: nope\n"
