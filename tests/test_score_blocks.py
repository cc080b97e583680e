"""The blocks of issue dates in which :mod:`gler.scoring` scores (bounded memory), as a
property. Apart from ``test_scoring.py``, which the GPU check collects for its CUDA test on a
machine that has no hypothesis."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gler.scoring import _row_blocks


@given(st.lists(st.integers(0, 50), min_size=1, max_size=30), st.integers(1, 120))
def test_row_blocks_cover_the_dates_in_order_within_the_size(per_row, size):
    keep = np.arange(50)[None, :] < np.array(per_row)[:, None]
    blocks = _row_blocks(keep, size)
    assert [r for b in blocks for r in range(len(keep))[b]] == list(range(len(keep)))
    for block in blocks:
        rows = keep[block].sum(axis=1)
        assert rows.sum() <= size or (rows > 0).sum() == 1  # or one date alone has more
