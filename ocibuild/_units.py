"""Sizes and durations the way Docker's go-units writes them (``4.1kB``, ``3 days``).

Shared by the store commands' tables (``ocibuild images``, ``prune``) and
``ocibuild history``; the progress display has its own, four-digit sizes
(BuildKit's, see ``ocibuild.progress.plain``).
"""

from __future__ import annotations

__all__ = ["human_duration", "human_size"]

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def human_size(size: float) -> str:
    """Decimal units with 3 significant digits, as ``docker images`` (``4.1kB``)."""
    unit = 0
    while size >= 1000 and unit < len(_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.3g}{_UNITS[unit]}"


def human_duration(seconds: float) -> str:
    """go-units' ``HumanDuration`` (``About a minute``, ``3 days``...)."""
    s = int(seconds)
    minutes, hours = int(seconds / 60), int(seconds / 3600 + 0.5)
    steps: list[tuple[bool, str]] = [
        (s < 1, "Less than a second"),
        (s == 1, "1 second"),
        (s < 60, f"{s} seconds"),
        (minutes == 1, "About a minute"),
        (minutes < 60, f"{minutes} minutes"),
        (hours == 1, "About an hour"),
        (hours < 48, f"{hours} hours"),
        (hours < 24 * 7 * 2, f"{hours // 24} days"),
        (hours < 24 * 30 * 2, f"{hours // 24 // 7} weeks"),
        (hours < 24 * 365 * 2, f"{hours // 24 // 30} months"),
    ]
    return next((text for cond, text in steps if cond), f"{int(seconds / 3600) // 24 // 365} years")
