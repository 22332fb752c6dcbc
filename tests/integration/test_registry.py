"""The registry client against a real registry (Debian's docker-registry, distribution 2.8).

A session fixture starts ``docker-registry serve`` on a free loopback port
with filesystem storage in a temp dir.  Images are made with ``import`` of a
busybox rootfs, pushed, pulled into empty stores, read by skopeo, and used
as ``FROM`` in a build whose store starts empty.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers.prereq import unavailable
from helpers.registry import serve

from ocibuild.errors import RegistryError
from ocibuild.export import import_rootfs
from ocibuild.oci import Descriptor, Digest, Manifest, Reference, mediatypes
from ocibuild.registry import RegistryClient, connect, pull, push
from ocibuild.registry.auth import Authenticator
from ocibuild.registry.transport import HttpTransport
from ocibuild.snapshot import Snapshots, chain_ids
from ocibuild.store import Store

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a running registry without auth."""
    with serve(tmp_path_factory.mktemp("registry")) as address:
        yield address


def _rootfs_tar(extra: bytes = b"") -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name in ("bin", "etc"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("bin/busybox")
        data = Path("/bin/busybox").read_bytes()
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("bin/sh")
        info.type, info.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(info)
        info = tarfile.TarInfo("etc/extra")
        info.size = len(extra)
        tar.addfile(info, io.BytesIO(extra))
    out.seek(0)
    return out


def _image(store: Store, name: str, extra: bytes = b"") -> Descriptor:
    manifest = import_rootfs(store, _rootfs_tar(extra), changes=['CMD ["sh"]'])
    with store.lock():
        store.tag(name, manifest)
    return manifest


def _push(store: Store, name: str) -> Digest:
    ref = Reference.parse(name)
    return push(store, store.image(name), ref, connect(ref.domain)).manifest.digest


def test_push_then_pull_into_empty_store_gives_same_digest(registry: str, tmp_path: Path) -> None:
    name = f"{registry}/roundtrip:1"
    source = Store(tmp_path / "a")
    _image(source, name)
    pushed = _push(source, name)

    target = Store(tmp_path / "b")
    ref = Reference.parse(name)
    result = pull(target, ref, connect(ref.domain))
    assert result.top.digest == pushed
    assert target.resolve(name) == result.top.with_annotations(
        {mediatypes.REF_NAME_ANNOTATION: name}
    )
    image = target.image(name)
    assert [layer.media_type for layer in image.manifest.layers] == [mediatypes.OCI_LAYER_GZIP]
    assert image.config_desc.digest == source.image(name).config_desc.digest


def test_second_push_uploads_nothing(registry: str, tmp_path: Path) -> None:
    name = f"{registry}/again:1"
    store = Store(tmp_path)
    _image(store, name, b"again")
    ref = Reference.parse(name)
    first = push(store, store.image(name), ref, connect(ref.domain))
    second = push(store, store.image(name), ref, connect(ref.domain))
    assert (first.uploaded, first.existing) == (2, 0)
    assert (second.uploaded, second.existing) == (0, 2)
    assert first.manifest == second.manifest


def test_chunked_upload_and_mount(registry: str, tmp_path: Path) -> None:
    transport = HttpTransport()
    client = RegistryClient(
        registry,
        transport,
        Authenticator(registry, transport, None),
        plain_http=True,
        chunk_size=64 << 10,
    )
    data = os.urandom(200_000)
    desc = Descriptor("application/octet-stream", Digest.from_bytes(data), len(data))
    client.push_blob("chunks/a", desc, io.BytesIO(data))
    assert client.has_blob("chunks/a", desc.digest)
    assert not client.has_blob("chunks/b", desc.digest)
    assert client.mount_blob("chunks/b", desc.digest, "chunks/a")
    store = Store(tmp_path)
    client.fetch_blob("chunks/b", desc, store)
    assert store.read_blob(desc) == data


def test_pulled_manifest_bytes_are_exact(registry: str, tmp_path: Path) -> None:
    transport = HttpTransport()
    client = RegistryClient(
        registry, transport, Authenticator(registry, transport, None), plain_http=True
    )
    store = Store(tmp_path)
    _image(store, f"{registry}/exact:1", b"exact")
    image = store.image(f"{registry}/exact:1")
    for blob in (image.config_desc, *image.manifest.layers):
        with store.blob_path(blob).open("rb") as source:
            client.push_blob("exact", blob, source)
    # indented JSON: a client that re-serialises would change the digest
    data = Manifest.from_json(store.read_blob(image.manifest_desc)).to_json().replace(b",", b",\n ")
    digest = client.put_manifest("exact", "pretty", data, mediatypes.OCI_MANIFEST)
    fetched = client.get_manifest("exact", "pretty")
    assert (fetched.data, fetched.digest) == (data, digest)
    assert client.get_manifest("exact", str(digest)).data == data


def test_missing_tag_is_a_one_line_registry_error(registry: str, tmp_path: Path) -> None:
    ref = Reference.parse(f"{registry}/nothing:here")
    with pytest.raises(RegistryError) as info:
        pull(Store(tmp_path), ref, connect(ref.domain))
    message = str(info.value)
    assert message.startswith(f"{registry}/nothing: GET manifests/here: HTTP 404 not found")
    assert "\n" not in message
    assert Store(tmp_path).refs() == []


@pytest.mark.tools
def test_skopeo_reads_a_pushed_image(registry: str, tmp_path: Path) -> None:
    name = f"{registry}/skopeo:tag"
    store = Store(tmp_path)
    _image(store, name, b"skopeo")
    pushed = _push(store, name)
    result = subprocess.run(
        [shutil.which("skopeo") or "skopeo", "inspect", "--tls-verify=false", f"docker://{name}"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert f'"Digest": "{pushed}"' in result.stdout


def test_from_a_registry_image_pulls_it_into_an_empty_store(registry: str, tmp_path: Path) -> None:
    from ocibuild.api import build

    name = f"{registry}/base:1"
    _image(Store(tmp_path / "src"), name, b"base")
    _push(Store(tmp_path / "src"), name)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {name}\nENV BUILT=yes\n")
    root = tmp_path / "empty"
    result = build(context, root=root, tags=["child:1"], progress="plain")
    store = Store(root)
    assert store.resolve(name) is not None
    child = store.image("child:1")
    assert child.manifest.layers == store.image(name).manifest.layers
    assert "BUILT=yes" in child.config.config.env
    assert result.manifest.digest == child.manifest_desc.digest


def test_basic_auth_with_htpasswd(tmp_path: Path) -> None:
    htpasswd = shutil.which("htpasswd")
    if htpasswd is None:
        unavailable("htpasswd (apache2-utils) is needed for a bcrypt password file")
        return
    work = tmp_path / "auth-registry"
    work.mkdir()
    subprocess.run(
        [htpasswd, "-Bbc", str(work / "htpasswd"), "tester", "pa55word"],
        check=True,
        capture_output=True,
    )
    auth_config = f"auth:\n  htpasswd:\n    realm: test\n    path: {work / 'htpasswd'}\n"
    with serve(work, auth_config) as address:
        name = f"{address}/private:1"
        store = Store(tmp_path / "store")
        _image(store, name, b"private")
        ref = Reference.parse(name)
        with pytest.raises(RegistryError) as info:
            push(
                store,
                store.image(name),
                ref,
                connect(ref.domain, env={"DOCKER_CONFIG": "/nonexistent"}),
            )
        assert "HTTP 401 unauthorized" in str(info.value)

        docker_config = tmp_path / "docker"
        docker_config.mkdir()
        secret = base64.b64encode(b"tester:pa55word").decode()
        (docker_config / "config.json").write_text(
            json.dumps({"auths": {address: {"auth": secret}}})
        )
        env = {"DOCKER_CONFIG": str(docker_config)}
        pushed = push(store, store.image(name), ref, connect(ref.domain, env=env))
        pulled = pull(Store(tmp_path / "other"), ref, connect(ref.domain, env=env))
        assert pulled.top.digest == pushed.manifest.digest


def test_cli_push_and_pull(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ocibuild.cli import main

    name = f"{registry}/cli:2"
    _image(Store(tmp_path / "a"), name, b"cli")
    assert main(["push", "--root", str(tmp_path / "a"), name]) == 0
    pushed, progress = capsys.readouterr()
    assert pushed.startswith("2: digest: sha256:")
    image = Store(tmp_path / "a").image(name)
    finished = [line for line in progress.splitlines() if line.endswith(" done")]
    assert len(finished) == 1 + len(image.manifest.layers), progress  # a line per blob, on stderr
    config = f"pushing {image.config_desc.digest} "  # layers go gzip: digests of their own
    assert any(line.startswith(config) for line in finished), progress
    assert main(["pull", "--root", str(tmp_path / "b"), name]) == 0
    pulled, progress = capsys.readouterr()
    assert pulled.splitlines() == [f"Digest: {pushed.split()[2]}", name]
    assert f"{pushed.split()[2]} " in progress  # the manifest, then each blob fetched
    assert main(["pull", "-q", "--root", str(tmp_path / "c"), name]) == 0
    assert capsys.readouterr() == (f"{name}\n", "")  # as docker pull -q: the name alone
    assert main(["push", "-q", "--root", str(tmp_path / "a"), name]) == 0
    assert capsys.readouterr() == (pushed, "")
    pulled_store = Store(tmp_path / "b")
    assert pulled_store.resolve(name) is not None
    top = chain_ids(pulled_store.image(name).config.diff_ids)[-1]  # unpacked, as docker pull
    assert Snapshots(pulled_store.snapshots_dir).path(top).is_dir()
