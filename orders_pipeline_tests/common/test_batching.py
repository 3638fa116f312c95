"""pack_groups: chunks of whole groups under a row limit; computed_ahead: results one step ahead."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders_pipeline.lib.common.batching import computed_ahead, pack_groups


def test_groups_fill_chunks_in_order_and_a_big_group_stands_alone() -> None:
    sizes = [("a", 4), ("b", 5), ("c", 2), ("d", 30), ("e", 1)]
    assert pack_groups(sizes, limit=10) == [["a", "b"], ["c"], ["d"], ["e"]]


def test_no_groups_no_chunks() -> None:
    assert pack_groups([], limit=10) == []


@given(st.lists(st.integers(min_value=0, max_value=50), max_size=40), st.integers(min_value=1, max_value=60))
def test_every_group_lands_in_exactly_one_chunk_within_the_limit(counts: list[int], limit: int) -> None:
    sizes = list(enumerate(counts))
    chunks = pack_groups(sizes, limit=limit)
    assert [key for chunk in chunks for key in chunk] == [key for key, _ in sizes]
    for chunk in chunks:
        rows = sum(counts[key] for key in chunk)
        assert rows <= limit or len(chunk) == 1


def test_computed_ahead_yields_every_result_in_order_and_runs_one_ahead() -> None:
    second_started = threading.Event()

    def square(x: int) -> int:
        if x == 1:
            second_started.set()
        return x * x

    results = computed_ahead(square, range(5))
    assert next(results) == 0
    # The second is being computed while the first is consumed, without being asked for.
    assert second_started.wait(timeout=10)
    assert list(results) == [1, 4, 9, 16]
    assert list(computed_ahead(square, [])) == []


def test_computed_ahead_raises_where_the_failing_result_would_be() -> None:
    def fail_on_two(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    results = computed_ahead(fail_on_two, range(4))
    assert [next(results), next(results)] == [0, 1]
    with pytest.raises(ValueError, match="two"):
        next(results)
