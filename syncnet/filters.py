"""A 1-D median filter, so that scoring does not pay scipy.signal's import (about 0.4 s) at start-up."""
import numpy as np


def median_filter(values, kernel_size):
    """scipy.signal.medfilt for 1-D input: each value is the median of the kernel_size values
    centred on it, with zeros beyond both ends; the dtype is kept."""
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    values = np.asarray(values)
    if values.size == 0:
        return values.copy()
    padded = np.pad(values, kernel_size // 2)
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel_size)
    # An odd count has one middle value, so the median is exactly one of the inputs.
    return np.median(windows, axis=-1).astype(values.dtype, copy=False)
