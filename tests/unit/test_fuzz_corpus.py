"""Every seed and every past crash of fuzz/corpus/ replays through its target cleanly.

No fuzzer needed: the target functions of fuzz/targets.py are called
directly, so a regression on a saved crash input shows here with a plain
traceback.  (tests/fuzz/test_fuzz_bounded.py runs the real fuzzer.)
"""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING

import pytest
from helpers.prereq import REPO

if TYPE_CHECKING:
    from pathlib import Path
    from types import ModuleType

CORPUS = REPO / "fuzz" / "corpus"


def _targets() -> ModuleType:
    name = "fuzz.targets"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "fuzz" / "targets.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


TARGETS = _targets().TARGETS
SEEDS = sorted(p for p in CORPUS.glob("*/*") if p.is_file())


def test_every_target_has_seeds() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(TARGETS)
    for target in TARGETS:
        assert any((CORPUS / target).iterdir()), target


def test_corpus_stays_small() -> None:
    assert sum(p.stat().st_size for p in SEEDS) < 1 << 20


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_seed_replays_without_a_crash(seed: Path) -> None:
    TARGETS[seed.parent.name](seed.read_bytes())
