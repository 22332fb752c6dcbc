"""The library's front door: :func:`build`, wiring only.

Reads the Dockerfile, parses and plans it, opens the build context and the
store, runs the executor, then does what the caller asked with the result:
tags (under the store lock), outputs (:mod:`ocibuild.export`), pushes
(``--push``, ``type=registry``), ``--iidfile`` and ``--metadata-file``.
Every decision about *how* to build belongs to the packages it calls; this
module only passes values between them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal, cast

from ocibuild.errors import ContextError, DockerfileError, SourceSpan, StoreError, UserError
from ocibuild.export.names import image_names
from ocibuild.export.outputs import OutputError, OutputSpec, parse_output

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from ocibuild.dockerfile.ignore import IgnoreRules
    from ocibuild.executor.context import BuildContext
    from ocibuild.executor.mounts import SecretSource
    from ocibuild.executor.options import BuildOptions, BuildResult, NetworkMode, RuntimeName
    from ocibuild.executor.unchanged import Inputs
    from ocibuild.oci import Descriptor, Platform, Reference
    from ocibuild.plan import BuildGraph
    from ocibuild.progress import Event, StepStarted
    from ocibuild.progress.report import Reporter
    from ocibuild.registry import PushTarget, RegistryClient
    from ocibuild.store import Store
    from ocibuild.store.cache_export import CacheSpec
    from ocibuild.store.cache_prune import PruneReport

    _Cache = tuple[CacheSpec, Reference | None, RegistryClient | None]

__all__ = [
    "build",
    "build_graph",
    "open_store",
    "prune",
    "source_date_epoch_from",
    "unpack_image",
]


def build(
    context: str | os.PathLike[str],
    dockerfile: str | os.PathLike[str] | None = None,
    *,
    tags: Sequence[str] = (),
    build_args: Mapping[str, str] = {},
    target: str | None = None,
    outputs: Sequence[OutputSpec | str] = (),
    labels: Mapping[str, str] = {},
    platform: str | None = None,
    root: str | os.PathLike[str] | None = None,
    iidfile: str | os.PathLike[str] | None = None,
    metadata_file: str | os.PathLike[str] | None = None,
    build_contexts: Mapping[str, str] = {},
    no_cache: bool = False,
    no_cache_filter: Sequence[str] = (),
    pull: bool = False,
    compression: str = "gzip",
    source_date_epoch: int | None = None,
    dockerfile_text: str | None = None,
    context_stream: BinaryIO | None = None,
    output_stream: BinaryIO | None = None,
    progress: str = "auto",
    runtime: str = "builtin",
    network: str | None = None,
    run_output: Callable[[bytes], None] | None = None,
    secrets: Sequence[str | SecretSource] = (),
    cache_to: Sequence[str | CacheSpec] = (),
    cache_from: Sequence[str | CacheSpec] = (),
    jobs: int | None = None,
    push: bool = False,
    insecure_registries: Sequence[str] = (),
    on_event: Callable[[Event], None] | None = None,
) -> BuildResult:
    r"""Build an image as ``docker build`` would and return the executor's result.

    ``context`` is a directory, or ``"-"`` with the tar in ``context_stream``.
    ``dockerfile`` defaults to ``<context>/Dockerfile``; ``dockerfile_text``
    gives the text directly (``-f -``).  Outputs with ``dest="-"`` are written
    to ``output_stream`` (default: standard output).  RUN steps use
    ``runtime`` (builtin, runc, crun) and ``network`` (default/host, none);
    their output is fed to ``run_output`` as it comes (None: not shown).
    ``secrets`` are ``--secret`` values (``id=ID,src=PATH``, ``id=ID,env=VAR``)
    or ``SecretSource``\ s.  ``cache_from`` (``type=local,src=DIR`` or
    ``type=registry,ref=REF``; a missing REF imports nothing) is imported
    into the store's cache first; ``cache_to``
    (``type=local,dest=DIR`` or ``type=registry,ref=REF``, each with
    ``[,mode=min|max]``) is exported after the build.
    ``no_cache`` builds without cache lookups (steps still recorded);
    ``no_cache_filter`` does so only for the stages it names.  ``jobs``
    stages at most are built at once (None: the CPU count).  ``push`` (and
    each ``type=registry[,name=REF]`` output) pushes the image under every
    tag after the build; ``pull`` re-resolves image bases against their
    registries; ``insecure_registries`` are spoken to over plain HTTP.
    ``on_event`` receives the build's progress events (:mod:`ocibuild.progress`:
    each step started, cached, done or failed, RUN output lines, bytes
    pulled, written and pushed), possibly from several threads at once;
    ``progress`` is only recorded (rendering is the caller's: the CLI's
    renderers are in :mod:`ocibuild.progress`).  ``run_output`` still gets
    the raw RUN output when given.
    """
    from ocibuild._record import replace
    from ocibuild.executor import unchanged
    from ocibuild.executor.mounts import parse_secret
    from ocibuild.executor.options import BuildOptions

    specs = _check_outputs(outputs)
    refs = image_names(tags)  # a bad -t fails before any work
    targets = _push_targets(specs, tags, push, insecure_registries)
    epoch = source_date_epoch
    if epoch is None:
        epoch = source_date_epoch_from(os.environ)
    target_platform = _platform(platform)
    imports, exports = _cache_specs(cache_from, "from"), _cache_specs(cache_to, "to")
    store = open_store(root)
    with store.in_use():  # no gc until the image is tagged and written out
        _import_caches(store, imports)
        options = BuildOptions(
            build_args=dict(build_args),
            target=target,
            target_platform=target_platform,
            no_cache=no_cache,
            no_cache_filter=tuple(no_cache_filter),
            pull=pull,
            source_date_epoch=epoch,
            labels=dict(labels),
            build_contexts=dict(build_contexts),
            progress=progress,
            runtime=_runtime(runtime),
            network=_network(network),
            run_output=run_output,
            secrets={
                s.id: s for s in (parse_secret(x) if isinstance(x, str) else x for x in secrets)
            },
            jobs=jobs,
            insecure_registries=tuple(insecure_registries),
        )
        fast, rules = None, None
        if not (imports or exports or context_stream or str(context) == "-"):
            own = [ref.familiar() for ref in refs]
            found = _unchanged(
                store, Path(context), dockerfile, dockerfile_text, options, specs, own
            )
            if found is not None:  # the full path builds from the very text and rules compared
                fast, dockerfile_text, rules = found
        hit = None if fast is None else unchanged.lookup(store, fast)
        steps: list[StepStarted] = []
        report = _reporter(on_event if fast is None else _collecting(steps, on_event))
        if hit is not None:
            result = hit.result
            _replay(report, hit.steps)
        else:
            options = replace(options, on_event=report)
            with _open_context(context, dockerfile, context_stream, rules) as ctx:
                if dockerfile_text is None:
                    dockerfile_text = _read_dockerfile(ctx.root, dockerfile, str(context) == "-")
                graph = _plan(dockerfile, dockerfile_text, options)
                result = _execute(graph, ctx, store, options)
        _export_caches(store, result, exports)
        before, after = _tag(store, refs, result.manifest, fast.own if fast else ())
        if fast is not None and hit is None:
            unchanged.remember(store, fast, result, steps, before, after)
        for spec in specs:
            _write_output(store, result, spec, tags, compression, output_stream)
        pushed = _push(store, result, targets, report)
        if iidfile is not None:
            _write_text(iidfile, str(result.config.digest))
        if metadata_file is not None:
            _write_text(metadata_file, build_metadata(result, tags, pushed))
        return result


def _unchanged(
    store: Store,
    context: Path,
    dockerfile: str | os.PathLike[str] | None,
    text: str | None,
    options: BuildOptions,
    specs: Sequence[OutputSpec],
    tags: Sequence[str],
) -> tuple[Inputs, str, IgnoreRules] | None:
    """The inputs an unchanged rebuild must match (:mod:`ocibuild.executor.unchanged`),
    with the Dockerfile text and ignore rules they were made from, or None
    when this build must take the full path: ``--no-cache``, a no-cache
    filter, ``--pull``, named contexts, an output that tags, or a context or
    Dockerfile that cannot be read (the full path says why)."""
    if options.no_cache or options.no_cache_filter or options.pull or options.build_contexts:
        return None
    if any(spec.type == "image" and spec.names for spec in specs) or not context.is_dir():
        return None
    from ocibuild.dockerfile.ignore import IgnoreRules
    from ocibuild.executor import unchanged

    root = context.resolve()
    try:
        if text is None:
            text = _read_dockerfile(root, dockerfile, False)
        rules = IgnoreRules.for_dockerfile(context, Path(dockerfile) if dockerfile else None)
    except UserError:
        return None
    where = (
        "-" if str(dockerfile) == "-" else str(Path(dockerfile or root / "Dockerfile").absolute())
    )
    settings = {
        "build_args": sorted(options.build_args.items()),
        "target": options.target,
        "platform": str(options.target_platform or ""),
        "source_date_epoch": options.source_date_epoch,
        "labels": sorted(options.labels.items()),
        "runtime": options.runtime,
        "network": options.network,
        "secrets": sorted(repr(s) for s in options.secrets.values()),
    }
    own = unchanged.own_tags(tags, text, options.build_args.values())
    found = unchanged.inputs(store, root, where, text, rules, settings, own)
    return None if found is None else (found, text, rules)


def _collecting(
    steps: list[StepStarted], on_event: Callable[[Event], None] | None
) -> Callable[[Event], None]:
    """``on_event`` (if any) that also keeps the build's steps, to replay on a hit."""
    from ocibuild.progress.events import StepStarted

    def collect(event: Event) -> None:
        if isinstance(event, StepStarted) and event.total:  # a stage's step, not a push
            steps.append(event)
        if on_event is not None:
            on_event(event)

    return collect


def _replay(report: Reporter | None, steps: Sequence[tuple[str, int, int, int, str]]) -> None:
    """Report the remembered build's steps, each started and CACHED, as a rebuild would."""
    if report is None:
        return
    for stage, index, position, total, text in steps:
        with report.step(stage, index, position, total, text):
            pass


def _tag(
    store: Store, refs: Sequence[Reference], manifest: Descriptor, own: Sequence[str]
) -> tuple[str, str]:
    """Tag ``manifest`` as ``refs``; the hashes of ``index.json`` (without the
    ``own`` tags) before and after, under the store lock, so that no other
    writer comes between."""
    from ocibuild.executor.unchanged import index_version

    if not refs:
        before = index_version(store, own)
        return before, before
    with store.lock():
        before = index_version(store, own)
        for ref in refs:
            store.tag(ref.familiar(), manifest)
        return before, index_version(store, own)


def build_graph(
    context: str | os.PathLike[str],
    dockerfile: str | os.PathLike[str] | None = None,
    *,
    style: str = "dot",
    build_args: Mapping[str, str] = {},
    target: str | None = None,
    platform: str | None = None,
    root: str | os.PathLike[str] | None = None,
    build_contexts: Mapping[str, str] = {},
    no_cache: bool = False,
    no_cache_filter: Sequence[str] = (),
    pull: bool = False,
    network: str | None = None,
    source_date_epoch: int | None = None,
    dockerfile_text: str | None = None,
    context_stream: BinaryIO | None = None,
) -> str:
    """The stage and step graph :func:`build` would walk, drawn as ``style``
    (``dot`` or ``mermaid``), each step marked with what the build cache of the
    store at ``root`` would do (:func:`ocibuild.executor.forecast.forecast`).

    Builds nothing and writes nothing to the store (a missing store is read
    as an empty one).  The other arguments mean what they mean for :func:`build`.
    """
    from ocibuild.executor.forecast import forecast
    from ocibuild.executor.options import BuildOptions
    from ocibuild.plan.render import STYLES, render

    if style not in STYLES:
        raise UserError(f"unknown graph style {style!r}: expected dot or mermaid")
    epoch = source_date_epoch
    if epoch is None:
        epoch = source_date_epoch_from(os.environ)
    options = BuildOptions(
        build_args=dict(build_args),
        target=target,
        target_platform=_platform(platform),
        no_cache=no_cache,
        no_cache_filter=tuple(no_cache_filter),
        pull=pull,
        source_date_epoch=epoch,
        build_contexts=dict(build_contexts),
        network=_network(network),
    )
    with _existing_store(root) as store, _open_context(context, dockerfile, context_stream) as ctx:
        if dockerfile_text is None:
            dockerfile_text = _read_dockerfile(ctx.root, dockerfile, str(context) == "-")
        graph = _plan(dockerfile, dockerfile_text, options)
        return render(graph, forecast(graph, ctx, store, options), style)


@contextlib.contextmanager
def _existing_store(root: str | os.PathLike[str] | None) -> Iterator[Store]:
    """The store at ``root`` if there is one, else an empty throwaway store."""
    import tempfile

    from ocibuild.store import Store

    path = Path(root) if root is not None else Store.default_root()
    if (path / "oci-layout").is_file() and (path / "index.json").is_file():
        yield Store(path)
        return
    with tempfile.TemporaryDirectory(prefix="ocibuild-graph-") as scratch:
        yield Store(scratch)


def _cache_specs(
    values: Sequence[str | CacheSpec], direction: Literal["to", "from"]
) -> list[_Cache]:
    """Parse and check every spec, and connect to cache registries, before any work."""
    if not values:  # the usual build: no registry client (http, ssl) to import
        return []
    from ocibuild.oci import Reference
    from ocibuild.registry import connect
    from ocibuild.store.cache_export import check_supported, parse_cache_spec

    specs = [parse_cache_spec(v, direction=direction) if isinstance(v, str) else v for v in values]
    caches: list[_Cache] = []
    for spec in specs:
        check_supported(spec)
        ref = Reference.parse(spec.ref) if spec.type == "registry" and spec.ref else None
        caches.append((spec, ref, connect(ref.domain) if ref else None))
    return caches


def _import_caches(store: Store, caches: Sequence[_Cache]) -> None:
    if not caches:
        return
    from ocibuild.registry.cache import pull_cache
    from ocibuild.store.cache_export import import_cache

    for spec, ref, client in caches:
        if ref is not None and client is not None:
            pull_cache(store, ref, client)  # a missing ref imports nothing
        else:
            import_cache(store, str(spec.path))


def _export_caches(store: Store, result: BuildResult, caches: Sequence[_Cache]) -> None:
    if not caches:
        return
    from ocibuild.registry.cache import push_cache
    from ocibuild.store.cache_export import export_cache, keys_for

    for spec, ref, client in caches:
        keys = keys_for(spec, result.cache_keys, result.final_stage_cache_keys)
        if ref is not None and client is not None:
            push_cache(store, keys, ref, client)
        else:
            export_cache(store, keys, str(spec.path))


def _runtime(name: str) -> RuntimeName:
    if name not in ("builtin", "runc", "crun"):
        raise UserError(f"unknown runtime {name!r}: expected builtin, runc or crun")
    return cast("RuntimeName", name)


def _network(mode: str | None) -> NetworkMode:
    if mode in (None, "", "default", "host"):
        return "host"
    if mode == "none":
        return "none"
    raise UserError(f"invalid network mode {mode!r}: expected default, none or host")


def _execute(
    graph: BuildGraph, ctx: BuildContext, store: Store, options: BuildOptions
) -> BuildResult:
    from ocibuild.executor import execute

    result: BuildResult = execute(graph, ctx, store, options)
    return result


def open_store(root: str | os.PathLike[str] | None = None) -> Store:
    """The store at ``root`` (default: ``Store.default_root()``)."""
    from ocibuild.store import Store

    return Store(Path(root) if root is not None else Store.default_root())


def unpack_image(store: Store, ref: str | Descriptor) -> str | None:
    """Unpack the host-platform layers of ``ref`` into the store's snapshots.

    What ``docker load``, ``pull`` and ``import`` do: the image is ready to
    run when a build's first RUN stands on it, instead of that build paying
    for the unpacking.  Best effort: the image is already stored and a build
    unpacks whatever is missing, so a failure (no manifest for this platform,
    no space) comes back as a one-line reason, not an exception.  Only as
    root: a non-root user's build unpacks in its user namespace, where files
    can be given their owners, and a snapshot unpacked outside it could not.
    """
    if os.geteuid() != 0:
        return None
    from ocibuild.executor.base import image_state
    from ocibuild.snapshot import Snapshots
    from ocibuild.store import ImageNotFoundError

    try:
        with store.in_use():
            image = store.image(ref)
            layers = image_state(image).layers
            Snapshots(store.snapshots_dir).ensure(store, layers)
    except ImageNotFoundError:
        return None  # no manifest for this platform: nothing a build here would run
    except (OSError, UserError, StoreError) as err:  # a full disk is a NoSpaceError
        return f"image left packed ({err}); a build unpacks it when a RUN needs it"
    return None


def prune(
    root: str | os.PathLike[str] | None = None,
    *,
    keep_storage: int | str | None = None,
    until: float | str | None = None,
    on_wait: Callable[[], None] | None = None,
) -> PruneReport:
    """Trim the build cache, then delete blobs no image, gc root or record needs,
    and the unpacked snapshots of layers none of them keeps.

    ``until`` (seconds, or a Go duration such as ``"24h"``) drops records
    unused for longer; ``keep_storage`` (bytes, or ``"10GB"``) then drops the
    least recently used records until their layers fit.  Neither: only gc.
    Prune waits for builds, pulls and loads on the store to finish; when it
    has to, it calls ``on_wait`` first.
    """
    from ocibuild.snapshot import Snapshots
    from ocibuild.store.cache_prune import PruneReport, parse_duration, parse_size, trim

    budget = parse_size(keep_storage) if isinstance(keep_storage, str) else keep_storage
    age = parse_duration(until) if isinstance(until, str) else until
    store = open_store(root)
    with store.gc_lock(on_wait), store.lock():  # gc lock first: builds hold in_use, wait for lock
        from ocibuild.executor.unchanged import forget

        dropped: tuple[str, ...] = ()
        if budget is not None or age is not None:
            dropped = trim(store.cache, keep_storage=budget, until=age).dropped
        forget(store)  # remembered rebuilds: a few hundred bytes each, made again by a build
        freed = store.gc()
        freed += Snapshots(store.snapshots_dir).sweep(store.layer_diff_ids())
        return PruneReport(dropped, freed)


def source_date_epoch_from(environ: Mapping[str, str]) -> int | None:
    """``SOURCE_DATE_EPOCH`` as an int, None when unset or empty."""
    raw = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise UserError(f"invalid SOURCE_DATE_EPOCH {raw!r}: expected whole seconds") from None
    if value < 0:
        raise UserError(f"invalid SOURCE_DATE_EPOCH {raw!r}: must not be negative")
    return value


def build_metadata(
    result: BuildResult, tags: Sequence[str], pushed: Descriptor | None = None
) -> str:
    """The ``--metadata-file`` JSON, with buildx's keys.

    The image is the stored one (uncompressed layers), or, when the build
    pushed, the manifest the registry has (gzip layers), as buildx reports it.
    """
    manifest = result.manifest if pushed is None else pushed
    meta: dict[str, object] = {
        "containerimage.config.digest": str(result.config.digest),
        "containerimage.descriptor": manifest.to_json(),
        "containerimage.digest": str(manifest.digest),
    }
    if tags:
        meta["image.name"] = ",".join(str(ref) for ref in image_names(tags))
    return json.dumps(meta, indent=2, sort_keys=True)


def _check_outputs(outputs: Sequence[OutputSpec | str]) -> list[OutputSpec]:
    specs = [parse_output(o) if isinstance(o, str) else o for o in outputs]
    for spec in specs:
        if spec.type == "image" and spec.dest:
            raise OutputError(f"output type={spec.type} is not supported yet")
    if sum(1 for s in specs if s.dest == "-") > 1:
        raise OutputError("only one output can be written to stdout")
    return specs


def _push_targets(
    specs: Sequence[OutputSpec], tags: Sequence[str], push: bool, insecure: Sequence[str]
) -> list[PushTarget]:
    """Where ``--push`` and ``type=registry`` outputs send the image (checked up front)."""
    names = list(tags) if push else []
    for spec in specs:
        if spec.type == "registry":
            names.extend(spec.names or tags)
    if (push or any(s.type == "registry" for s in specs)) and not names:
        raise OutputError("pushing needs a name: give -t NAME or name=NAME")
    if not names:  # no push: the registry client (http, ssl) is not imported
        return []
    from ocibuild.registry import push_targets

    return push_targets(names, tuple(insecure))


def _push(
    store: Store, result: BuildResult, targets: Sequence[PushTarget], report: Reporter | None
) -> Descriptor | None:
    """Push to every target; the manifest pushed (the same for all: gzip layers), if any."""
    if not targets:
        return None
    from ocibuild.registry import push

    pushed = None
    for target in targets:
        if report is None:
            pushed = push(store, result.image, target.ref, target.client).manifest
            continue
        with report.step("", -1, 0, 0, f"pushing {target.ref}") as step:
            sink = step.event_sink
            pushed = push(store, result.image, target.ref, target.client, on_event=sink).manifest
    return pushed


def _reporter(on_event: Callable[[Event], None] | None) -> Reporter | None:
    """One step counter for the build and its pushes (None when no one listens)."""
    if on_event is None:
        return None
    from ocibuild.progress.report import Reporter

    return Reporter.of(on_event)


def _platform(text: str | None) -> Platform | None:
    from ocibuild.oci import Platform

    return Platform.parse(text) if text else None


def _plan(
    dockerfile: str | os.PathLike[str] | None, text: str, options: BuildOptions
) -> BuildGraph:
    from ocibuild.dockerfile import parse
    from ocibuild.oci import Platform
    from ocibuild.plan import plan

    # Messages name the Dockerfile as the user gave it (``sub/Dockerfile.dev:3:``).
    name = "Dockerfile" if dockerfile is None or str(dockerfile) == "-" else str(dockerfile)
    return plan(
        parse(text, path=name),
        build_args=options.build_args,
        target=options.target,
        target_platform=options.target_platform,
        build_platform=Platform.host(),
    )


def _read_dockerfile(
    context_root: Path, dockerfile: str | os.PathLike[str] | None, from_tar: bool
) -> str:
    """The Dockerfile's text: ``-f`` (relative to the working dir, as docker's CLI),
    else ``Dockerfile`` in the context (also inside a context tar)."""
    if dockerfile is None:
        path = context_root / "Dockerfile"
    elif from_tar:
        path = context_root / dockerfile
    else:
        path = Path(dockerfile)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ContextError(f"cannot read Dockerfile: {path}: no such file") from None
    except (IsADirectoryError, PermissionError) as err:
        raise ContextError(f"cannot read Dockerfile: {path}: {err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        # Named as parse errors name it; BuildKit takes any bytes, but an
        # image config is JSON (UTF-8), so the line is refused here.
        name = "Dockerfile" if dockerfile is None or str(dockerfile) == "-" else str(dockerfile)
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        span = SourceSpan(name, line, line)
        raise DockerfileError(
            f"invalid UTF-8 (byte 0x{data[err.start]:02x} at column {column})", span
        ) from None


def _open_context(
    context: str | os.PathLike[str],
    dockerfile: str | os.PathLike[str] | None,
    stream: BinaryIO | None,
    rules: IgnoreRules | None = None,
) -> BuildContext:
    """The build context: a directory (with ``rules``, else those of its
    ``.dockerignore`` or ``<Dockerfile>.dockerignore``) or a tar stream; use
    it in ``with``."""
    from ocibuild.dockerfile.ignore import IgnoreRules
    from ocibuild.executor.context import BuildContext

    if str(context) == "-":
        source = stream if stream is not None else sys.stdin.buffer
        return BuildContext.from_tar(source, dockerfile=str(dockerfile) if dockerfile else None)
    path = Path(context)
    if not path.is_dir():
        raise ContextError(f"unable to prepare context: path {str(context)!r} not found")
    if rules is None:
        rules = IgnoreRules.for_dockerfile(
            path, Path(dockerfile) if dockerfile is not None else None
        )
    return BuildContext.from_dir(path, rules)


def _write_output(
    store: Store,
    result: BuildResult,
    spec: OutputSpec,
    tags: Sequence[str],
    compression: str,
    stdout: BinaryIO | None,
) -> None:
    from ocibuild import export

    names = spec.names or tuple(tags)
    with _destination(spec.dest, stdout) as dest:
        match spec.type:
            case "oci":
                export.write_oci_archive(
                    store,
                    result.image,
                    dest,
                    names=names,
                    compression=spec.compression or compression,
                )
            case "docker":
                export.write_docker_archive(store, result.image, dest, names=names)
            case "local":
                export.write_local(store, result.image, Path(str(spec.dest)))
            case "tar":
                export.write_rootfs_tar(store, result.image, dest)
            case "image":
                if spec.names:
                    with store.lock():
                        for ref in image_names(spec.names):
                            store.tag(ref.familiar(), result.manifest)


@contextlib.contextmanager
def _destination(dest: str | None, stdout: BinaryIO | None) -> Iterator[BinaryIO | str]:
    if dest == "-":
        yield stdout if stdout is not None else sys.stdout.buffer
    else:
        yield dest or ""


def _write_text(path: str | os.PathLike[str], text: str) -> None:
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
