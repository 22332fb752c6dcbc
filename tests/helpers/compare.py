"""Compare two built images and explain the difference readably.

`compare_images` gives a `Comparison` whose ``report()`` is a unified diff of
the normalised root filesystems and of the summarised configs, labelled with
the two builders' names, so a failing conformance test says what differs.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from helpers.configs import summarise
from helpers.rootfs import FsEntry, normalise_layers, render

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from helpers.images import LoadedImage


@dataclass(frozen=True, slots=True)
class Side:
    """One builder's result, reduced to what is compared."""

    label: str
    filesystem: tuple[FsEntry, ...]
    config: Mapping[str, Any]

    @classmethod
    def of(
        cls, label: str, image: LoadedImage, base_history: Sequence[Mapping[str, Any]] = ()
    ) -> Side:
        fs = tuple(normalise_layers(image.layers))
        return cls(label, fs, summarise(image.config, base_history))

    def config_lines(self) -> list[str]:
        return json.dumps(self.config, indent=2, sort_keys=True).splitlines()


@dataclass(frozen=True, slots=True)
class Comparison:
    left: Side
    right: Side

    @property
    def filesystem_equal(self) -> bool:
        return self.left.filesystem == self.right.filesystem

    @property
    def config_equal(self) -> bool:
        return self.left.config == self.right.config

    @property
    def equal(self) -> bool:
        return self.filesystem_equal and self.config_equal

    def _diff(self, left: list[str], right: list[str], what: str) -> list[str]:
        return list(
            difflib.unified_diff(
                left,
                right,
                f"{self.left.label} {what}",
                f"{self.right.label} {what}",
                n=2,
                lineterm="",
            )
        )

    def report(self) -> str:
        """Empty when equal; otherwise the diffs, filesystem first."""
        lines: list[str] = []
        if not self.filesystem_equal:
            left, right = render(self.left.filesystem), render(self.right.filesystem)
            lines += self._diff(left, right, "rootfs")
        if not self.config_equal:
            lines += self._diff(self.left.config_lines(), self.right.config_lines(), "config")
        return "\n".join(lines)


def compare_images(left: Side, right: Side) -> Comparison:
    return Comparison(left, right)
