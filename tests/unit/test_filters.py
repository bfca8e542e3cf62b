"""syncnet.filters.median_filter is scipy.signal.medfilt, without scipy.signal's start-up."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import signal

from syncnet.filters import median_filter

finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@pytest.mark.filterwarnings("ignore:kernel_size exceeds volume extent")
@settings(max_examples=200, deadline=None)
@given(arrays(st.sampled_from([np.float32, np.float64]), st.integers(1, 60), elements=finite),
       st.sampled_from([1, 3, 9, 13]))
def test_median_filter_is_scipy_medfilt(values, kernel_size):
    # scipy warns when the kernel is longer than the input; the zero padding is the point here.
    expected = signal.medfilt(values, kernel_size=kernel_size)
    got = median_filter(values, kernel_size)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_median_filter_zero_pads_the_ends():
    # Beyond the ends lie zeros: a ramp's last values are pulled down to the window's middle.
    np.testing.assert_array_equal(median_filter(np.arange(1.0, 8.0), 5), [1, 2, 3, 4, 5, 5, 5])


def test_median_filter_refuses_even_kernels():
    with pytest.raises(ValueError, match="odd"):
        median_filter(np.ones(5), 4)
