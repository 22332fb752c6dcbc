"""ocibuild._seq.Seq, and the stage state growing through it without copying.

A Dockerfile of n instructions used to copy the stage's history once per
step (O(n^2) in all); these tests count the items copied instead of timing.
"""

from __future__ import annotations

import threading

import pytest

from ocibuild._seq import Seq
from ocibuild.dockerfile import instructions as i
from ocibuild.errors import SourceSpan
from ocibuild.executor.config_steps import apply_config_step
from ocibuild.executor.state import StageState, empty_config
from ocibuild.layer import LayerBlob
from ocibuild.oci import Descriptor, Digest

SPAN = SourceSpan("Dockerfile", 1, 1)


def _grow(n: int) -> Seq[int]:
    seq: Seq[int] = Seq()
    for item in range(n):
        seq = seq.appended(item)
    return seq


@pytest.mark.parametrize("n", [1_000, 2_000, 4_000])
def test_appending_to_the_newest_copies_nothing(n: int) -> None:
    before = Seq.copies
    seq = _grow(n)
    assert Seq.copies == before
    assert seq == tuple(range(n))


def test_a_version_never_sees_later_appends() -> None:
    base = Seq((1, 2))
    first = base.appended(3)
    before = Seq.copies
    second = base.appended(4)  # base is no longer the newest: copied
    assert Seq.copies == before + 2
    assert [base.tuple(), first.tuple(), second.tuple()] == [(1, 2), (1, 2, 3), (1, 2, 4)]
    assert first.appended(5) == (1, 2, 3, 5)
    assert list(base) == [1, 2]
    assert list(reversed(first)) == [3, 2, 1]


def test_behaves_as_the_tuple_of_its_items() -> None:
    seq = Seq("abc").appended("d")
    assert seq == ("a", "b", "c", "d")
    assert ("a", "b", "c", "d") == seq  # noqa: SIM300 (tuple.__eq__ defers to Seq)
    assert seq != ("a", "b", "c")
    assert seq != ["a", "b", "c", "d"]
    assert hash(seq) == hash(("a", "b", "c", "d"))
    assert seq[-1] == "d"
    assert seq[1:3] == ("b", "c")
    assert seq[::-1] == ("d", "c", "b", "a")
    assert "c" in seq
    assert seq.index("c") == 2
    assert len(seq) == 4
    assert not Seq() and seq
    assert repr(seq) == "Seq(['a', 'b', 'c', 'd'])"
    assert Seq.of(seq) is seq
    with pytest.raises(IndexError):
        seq[4]
    with pytest.raises(IndexError):
        seq[-5]


def test_two_threads_extending_one_version_get_their_own_item() -> None:
    base = _grow(10)
    results: dict[int, Seq[int]] = {}
    barrier = threading.Barrier(8)

    def extend(item: int) -> None:
        barrier.wait()
        results[item] = base.appended(item)

    threads = [threading.Thread(target=extend, args=(100 + t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for item, seq in results.items():
        assert seq == (*range(10), item)


def _env(n: int) -> i.Env:
    return i.Env(SPAN, "", (i.KeyValue("A", str(n)),))


def _no_args(name: str, default: str | None) -> str | None:
    return default


def test_config_steps_append_history_in_place() -> None:
    """n ENV steps copy no history entry: doubling n does not quadruple the work."""
    before = Seq.copies
    state = StageState(empty_config("linux", "amd64"))
    states = []
    for n in range(3_000):
        state = apply_config_step(state, _env(n), "", _no_args)
        states.append(state)
    assert Seq.copies == before
    assert len(state.history) == 3_000
    assert states[10].history == state.history[:11]
    assert state.history[-1].created_by == "ENV A=2999"


def test_layers_diff_ids_and_step_keys_append_in_place() -> None:
    before = Seq.copies
    state = StageState(empty_config("linux", "amd64"))
    for n in range(2_000):
        digest = Digest.from_bytes(str(n).encode())
        blob = LayerBlob(Descriptor("application/vnd.oci.image.layer.v1.tar", digest, n), digest)
        state = state.with_layer(blob).with_step_key(str(n))
    assert Seq.copies == before
    assert len(state.layers) == len(state.config.diff_ids) == len(state.step_keys) == 2_000
    assert state.config.diff_ids[-1] == state.layers[-1].diff_id
