"""The state a stage starts from: ``FROM scratch``, an earlier stage, a named
context, or an image in the store (pulled when missing, or always with
``--pull``), plus the base's ONBUILD triggers.

Every base gets BuildKit's default ``PATH`` when its config has none.  The
base's history and layers are kept; ARGs and "CMD set in this stage" start
empty; ``OnBuild`` is emptied (triggers are not inherited) and the triggers
themselves are parsed and returned so the executor runs them first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocibuild._record import replace
from ocibuild.errors import DockerfileError, RegistryError, SourceSpan, UserError, at
from ocibuild.executor.context import BuildContext
from ocibuild.executor.named import open_named
from ocibuild.executor.state import DEFAULT_PATH, StageState, empty_config, set_env
from ocibuild.layer import LayerBlob
from ocibuild.oci import Platform

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

    from ocibuild.dockerfile.instructions import Instruction
    from ocibuild.plan import Stage
    from ocibuild.progress import Event
    from ocibuild.store import Store, StoredImage

__all__ = ["base_state", "image_state", "onbuild_triggers"]


def image_state(image: StoredImage) -> StageState:
    """The state of a stored image: its config and its layers as blobs."""
    layers = tuple(
        LayerBlob(desc, diff_id)
        for desc, diff_id in zip(image.manifest.layers, image.config.diff_ids, strict=True)
    )
    return StageState(image.config, layers)


def base_state(
    stage: Stage,
    built: Mapping[int, StageState],
    store: Store,
    contexts: Mapping[str, str],
    platform: Platform | None,
    *,
    pull: bool = False,
    insecure: Collection[str] = (),
    on_event: Callable[[Event], None] | None = None,
) -> StageState:
    """The state ``stage`` starts from, before ONBUILD triggers.

    ``pull`` resolves an image base against its registry even when the store
    has it (``build --pull``); ``insecure`` registries are spoken to over HTTP;
    a pull reports its transfers to ``on_event``.
    """
    if stage.base_stage is not None:
        state = StageState(built[stage.base_stage].config, built[stage.base_stage].layers)
    elif stage.base.lower() == "scratch":
        host = platform or Platform.host()
        state = StageState(empty_config(host.os, host.architecture, host.variant))
    elif stage.base in contexts:
        found = open_named(contexts[stage.base], store, platform)
        if isinstance(found, BuildContext):
            raise UserError(f"build context {stage.base!r} is a directory, not an image")
        state = image_state(found)
    else:
        found = _store_image(store, stage.base, platform, pull, insecure, on_event)
        state = image_state(found)
    env = state.config.config.env
    if not any(item.partition("=")[0] == "PATH" for item in env):
        state = state.with_config(env=set_env(env, "PATH", DEFAULT_PATH))
    return state


def _store_image(
    store: Store,
    name: str,
    platform: Platform | None,
    always: bool,
    insecure: Collection[str],
    on_event: Callable[[Event], None] | None,
) -> StoredImage:
    """The stored image ``name``; pulled from its registry first when the store
    lacks it, or always when ``always`` (offline, that is an error, as for docker)."""
    from ocibuild.store import ImageNotFoundError

    if not always:
        try:
            return store.image(name, platform)
        except ImageNotFoundError:
            if store.resolve(name) is not None:
                raise  # present, but not for this platform: a pull would not help
    from ocibuild.oci import Reference
    from ocibuild.registry import connect, pull

    ref = Reference.parse(name)
    try:
        client = connect(ref.domain, insecure=insecure)
        result = pull(store, ref, client, platform, on_event=on_event)
    except RegistryError as err:
        # Docker's wording: the image the user named comes first.
        raise RegistryError(f"failed to resolve {ref.familiar()}: {err.message}") from None
    return store.image(result.top, platform)


def onbuild_triggers(
    state: StageState, escape: str, span: SourceSpan
) -> tuple[StageState, tuple[Instruction, ...]]:
    """Split off the base's ONBUILD triggers: the state without them, and them parsed.

    The triggers carry ``span`` (the stage's FROM line), where Docker reports
    their errors.
    """
    expressions = state.config.config.on_build
    if not expressions:
        return state, ()
    from ocibuild.dockerfile import parse

    text = "FROM scratch\n" + "\n".join(expressions) + "\n"
    if escape != "\\":
        text = f"# escape={escape}\n" + text
    with at(span):
        parsed = parse(text, path=span.path).instructions[1:]
    for instr in parsed:
        keyword = type(instr).__name__.upper()
        if keyword in ("FROM", "ONBUILD", "MAINTAINER"):
            raise DockerfileError(f"{keyword} isn't allowed as an ONBUILD trigger", span)
    triggers = tuple(replace(instr, span=span) for instr in parsed)
    return replace(state.with_config(on_build=()), cmd_set=False), triggers
