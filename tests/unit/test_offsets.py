"""The offset rule (syncnet.scoring.offsets) against SPEC.md step 6 as tests/helpers.py states it in
numpy, on tables whose best column is chosen here, and the sub-frame offset on parabolas whose
vertex is known. The columns' offsets are written out as SPEC.md gives them (column 0 is +15,
column 15 is 0, column 30 is -15), not derived from the module.
"""
import numpy as np
import pytest

from syncnet.scoring.distances import summarise
from syncnet.scoring.offsets import (
    best_column,
    column_of_offset,
    column_offsets,
    confidence,
    framewise_confidence,
    offset_of_column,
    subframe_offset,
    track_frame_confidence,
)
from tests.helpers import reference_frame_confidence, reference_summary

VSHIFT = 15
# SPEC.md step 5-6: column j compares video window i with audio window i + j - 15; offset = 15 - minidx.
OFFSET_OF_COLUMN = dict(zip(range(31), range(15, -16, -1)))


def table_dipping_at(column, n_windows=40, seed=0):
    """An N x 31 float32 table, noisy, whose mean distance is lowest at `column`."""
    rng = np.random.default_rng(seed)
    bowl = 8 + np.abs(np.arange(31) - column)
    return (bowl + rng.uniform(-0.3, 0.3, (n_windows, 31))).astype(np.float32)


def picked_offset(rule, dists):
    """The offset a rule (column of the mean curve -> offset) gives for a table."""
    return rule(np.asarray(dists, dtype=np.float64).mean(0))


def module_rule(mean_dists):
    return offset_of_column(best_column(mean_dists), VSHIFT)


@pytest.mark.parametrize("column", [0, 1, 12, 15, 22, 30])
def test_each_column_is_the_offset_spec_gives_it(column):
    dists = table_dipping_at(column, seed=column)
    expected = reference_summary(dists, VSHIFT)[0]
    assert expected == OFFSET_OF_COLUMN[column]  # the oracle and the table agree on the dip
    assert picked_offset(module_rule, dists) == expected
    assert summarise(dists, VSHIFT).offset == expected
    assert column_offsets(VSHIFT)[column] == expected
    assert column_of_offset(expected, VSHIFT) == column


def test_column_offsets_run_from_plus_to_minus_vshift():
    assert list(column_offsets(VSHIFT)) == [OFFSET_OF_COLUMN[j] for j in range(31)]
    assert list(column_offsets(2)) == [2, 1, 0, -1, -2]


def test_a_tie_goes_to_the_first_column_as_the_reference_takes_it():
    """Two equal minima, at columns 5 (offset +10) and 20 (offset -5): np.argmin's and torch.min's
    first, so +10."""
    curve = 9.0 + np.abs(np.arange(31) - 5) * np.abs(np.arange(31) - 20) / 50
    dists = np.tile(curve.astype(np.float32), (12, 1))
    assert curve[5] == curve[20] == curve.min()
    assert reference_summary(dists, VSHIFT)[0] == 10
    assert summarise(dists, VSHIFT).offset == 10


@pytest.mark.parametrize("wrong_rule", [
    lambda mean: best_column(mean) - VSHIFT,                                # the sign flipped
    lambda mean: VSHIFT - (len(mean) - 1 - int(np.argmin(mean[::-1]))),  # the last of a tie
    lambda mean: VSHIFT - int(np.argmax(mean)),                          # the largest distance
])
def test_the_comparison_catches_a_wrong_rule(wrong_rule):
    """The oracle comparison above is sharp: each plausible mistake fails it on some table here."""
    tie = np.tile((9.0 + np.abs(np.arange(31) - 5) * np.abs(np.arange(31) - 20) / 50).astype(np.float32), (12, 1))
    tables = [table_dipping_at(column, seed=column) for column in (1, 12, 22)] + [tie]
    assert any(picked_offset(wrong_rule, dists) != reference_summary(dists, VSHIFT)[0] for dists in tables)
    assert all(picked_offset(module_rule, dists) == reference_summary(dists, VSHIFT)[0] for dists in tables)


@pytest.mark.parametrize("column", [3, 12, 27])
def test_confidence_and_min_dist_are_the_references(column):
    dists = table_dipping_at(column, n_windows=55, seed=100 + column)
    offset, min_dist, expected_confidence = reference_summary(dists, VSHIFT)
    mean64 = dists.astype(np.float64).mean(0)
    assert confidence(mean64) == pytest.approx(expected_confidence, abs=1e-12)
    summary = summarise(dists, VSHIFT)
    assert (summary.offset, summary.min_dist, summary.confidence) == pytest.approx(
        (offset, min_dist, expected_confidence), abs=1e-5)


def test_the_per_frame_confidences_are_the_references():
    """run_visualise's per-frame confidence against the reference's medfilt, and
    the demo's framewise confidence: median mean distance minus each window's at the best offset."""
    from scipy.signal import medfilt

    dists = table_dipping_at(9, n_windows=60, seed=7)
    np.testing.assert_allclose(track_frame_confidence(dists), reference_frame_confidence(dists), atol=1e-5)
    mean64 = dists.astype(np.float64).mean(0)
    expected = medfilt(np.median(mean64) - dists[:, 9].astype(np.float64), kernel_size=9)
    np.testing.assert_allclose(framewise_confidence(dists, mean64), expected, atol=1e-6)
    np.testing.assert_allclose(summarise(dists, VSHIFT).framewise_conf, expected, atol=1e-5)


@pytest.mark.parametrize("vertex", [3.3, -7.25, 0.0, 11.5, -14.4])
def test_the_subframe_offset_is_a_parabolas_vertex(vertex):
    """A mean distance that is a parabola in the offset: the three points round its minimum lie
    on it, so their vertex is exactly the parabola's."""
    offsets = np.array([OFFSET_OF_COLUMN[j] for j in range(31)], dtype=np.float64)
    curve = 4.0 + 0.3 * (offsets - vertex) ** 2
    assert subframe_offset(curve, VSHIFT) == pytest.approx(vertex, abs=1e-9)


def test_the_subframe_offset_stays_whole_at_the_ends_of_the_range():
    offsets = np.array([OFFSET_OF_COLUMN[j] for j in range(31)], dtype=np.float64)
    assert subframe_offset(4.0 + (offsets - 20.0) ** 2, VSHIFT) == 15.0
    assert subframe_offset(4.0 + (offsets + 19.0) ** 2, VSHIFT) == -15.0


def test_a_two_column_tie_puts_the_subframe_offset_between_them():
    """Offsets +3 and +2 equally low, their other neighbours equally high: the parabola through
    (4, 5), (3, 1), (2, 1) has its vertex at 2.5."""
    offsets = np.array([OFFSET_OF_COLUMN[j] for j in range(31)], dtype=np.float64)
    curve = np.where((offsets == 3) | (offsets == 2), 1.0, 5.0)
    assert subframe_offset(curve, VSHIFT) == pytest.approx(2.5, abs=1e-12)
