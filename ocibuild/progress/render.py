"""The CLI's ``--progress`` modes, each turned into a renderer (or none).

``plain`` writes BuildKit's plain lines (:mod:`ocibuild.progress.plain`);
``tty`` draws a live view with rich (:mod:`ocibuild.progress.tty`, imported
only then); ``quiet`` shows nothing (the CLI prints the image ID alone);
``auto`` is ``tty`` when the stream is a terminal, else ``plain``.
:func:`rendering` owns the renderer's life: it is started before the build
and closed after it, also when the build fails, so a final screen is drawn
before the CLI prints the error.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import TextIO

    from ocibuild.progress.events import Event

__all__ = ["MODES", "Mode", "Renderer", "rendering", "resolve_mode"]

Mode = Literal["auto", "tty", "plain", "quiet"]
MODES: tuple[Mode, ...] = ("auto", "tty", "plain", "quiet")


class Renderer(Protocol):
    """Shows events as they come (from any thread); ``close`` ends the show."""

    def __call__(self, event: Event) -> None: ...
    def close(self) -> None: ...


def resolve_mode(mode: str, stream: TextIO) -> Literal["tty", "plain", "quiet"]:
    """``auto`` made concrete for ``stream``; the other modes as they are."""
    if mode == "auto":
        return "tty" if _is_terminal(stream) else "plain"
    if mode in ("tty", "plain", "quiet"):
        return mode  # type: ignore[return-value]
    raise ValueError(f"unknown progress mode {mode!r}")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def rendering(mode: str, stream: TextIO) -> Iterator[Callable[[Event], None] | None]:
    """The ``on_event`` for ``mode`` on ``stream`` (None for quiet), closed on exit."""
    concrete = resolve_mode(mode, stream)
    if concrete == "quiet":
        yield None
        return
    renderer = _renderer(concrete, stream)
    try:
        yield renderer
    finally:
        renderer.close()


def _renderer(mode: Literal["tty", "plain"], stream: TextIO) -> Renderer:
    if mode == "plain":
        from ocibuild.progress.plain import PlainRenderer

        return PlainRenderer(stream)
    from ocibuild.progress.tty import TtyRenderer

    tty = TtyRenderer(stream)
    tty.start()
    return tty
