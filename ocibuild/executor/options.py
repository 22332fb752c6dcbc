"""What a build is asked to do (:class:`BuildOptions`) and what it made (:class:`BuildResult`).

Build args, target and target platform are already in the ``BuildGraph`` made
by ``ocibuild.plan``; they are repeated here only for callers that want one
record of a build's inputs.  Named contexts (``--build-context NAME=VALUE``)
are kept as the raw values; :mod:`ocibuild.executor.base` interprets them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ocibuild._record import field, record

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ocibuild.executor.mounts import SecretSource
    from ocibuild.oci import Descriptor, Platform
    from ocibuild.progress import Event
    from ocibuild.store import StoredImage

__all__ = ["BuildOptions", "BuildResult", "NetworkMode", "RuntimeName"]

RuntimeName = Literal["builtin", "runc", "crun"]
NetworkMode = Literal["host", "none"]


def _empty() -> Mapping[str, str]:
    return {}


@record
class BuildOptions:
    """Options of one build.

    ``build_contexts`` maps a name to ``oci-layout://DIR[:TAG]``, a path to
    an OCI or docker archive, or a directory; ``FROM NAME`` and
    ``COPY --from=NAME`` use it before looking at stages and images.
    ``source_date_epoch`` fixes ``created`` and clamps new files' mtimes.
    ``no_cache`` stops build-cache lookups (steps still run and are
    recorded); ``no_cache_filter`` does so for the stages named (or numbered)
    there; ``pull`` resolves every image base against its registry even
    when the store has it (``insecure_registries`` are spoken to over plain
    HTTP); ``progress`` is the CLI's mode, kept for the callers' sake (the
    library never renders: pass ``on_event``).
    ``runtime`` runs RUN steps (``builtin`` needs nothing installed);
    ``network`` is RUN's default network (``RUN --network`` overrides it);
    ``run_output`` receives RUN output chunks as they come (None: only the
    tail is kept, for the error of a failed RUN);
    ``on_event`` receives the build's progress events
    (:mod:`ocibuild.progress`: steps started, cached, done or failed, RUN
    output lines, bytes pulled or written), from the stage threads, so it
    must be thread-safe (None: no events are made);
    ``secrets`` maps a secret id to its source for ``RUN --mount=type=secret``;
    ``jobs`` is how many stages may be built at once (None: the CPU count).
    """

    build_args: Mapping[str, str] = field(default_factory=_empty)
    target: str | None = None
    target_platform: Platform | None = None
    no_cache: bool = False
    pull: bool = False
    no_cache_filter: tuple[str, ...] = ()
    source_date_epoch: int | None = None
    labels: Mapping[str, str] = field(default_factory=_empty)
    build_contexts: Mapping[str, str] = field(default_factory=_empty)
    progress: str = "auto"
    runtime: RuntimeName = "builtin"
    network: NetworkMode = "host"
    run_output: Callable[[bytes], None] | None = None
    secrets: Mapping[str, SecretSource] = field(default_factory=dict)
    jobs: int | None = None
    insecure_registries: tuple[str, ...] = ()
    on_event: Callable[[Event], None] | None = None


@record
class BuildResult:
    """The image a build made: its manifest and config descriptors and the stored image.

    ``cache_keys`` are the build cache records the build looked up or made,
    every stage's (``--cache-to mode=max`` exports them);
    ``final_stage_cache_keys`` those of the final stage only (``mode=min``).
    ``repeatable`` says a rebuild of the same inputs over the same cache
    records would make this same image: no step ran outside the cache (ADD of
    a URL without ``--checksum``) and ``created`` was not taken from the
    clock (a build that makes no layer, without SOURCE_DATE_EPOCH).
    """

    manifest: Descriptor
    config: Descriptor
    image: StoredImage
    cache_keys: tuple[str, ...] = ()
    final_stage_cache_keys: tuple[str, ...] = ()
    repeatable: bool = False
