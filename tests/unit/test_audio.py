"""The scoring audio, read a span at a time: MonoWav and StreamedMfcc equal whole-file reads exactly."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.io import wavfile

from syncnet.errors import MediaError
from syncnet.io import media
from syncnet.scoring.distances import StreamedMfcc, mfcc_frame_count
from tests.helpers import reference_mfcc


def write_wav(path, samples, rate=16000):
    wavfile.write(path, rate, samples)
    return path


def test_mono_wav_reads_spans_as_scipy_does(tmp_path):
    samples = np.random.default_rng(0).integers(-32768, 32767, 16000, dtype=np.int16)
    expected = wavfile.read(write_wav(tmp_path / "a.wav", samples))[1]
    with media.MonoWav(tmp_path / "a.wav") as wav:
        assert (wav.n_samples, wav.rate) == (16000, 16000)
        whole = wav.read(0, wav.n_samples)
        assert whole.dtype == np.int16
        np.testing.assert_array_equal(whole, expected)
        np.testing.assert_array_equal(wav.read(1234, 5678), expected[1234:5678])
        # Spans are clipped to the file, as slices are.
        np.testing.assert_array_equal(wav.read(-5, 3), expected[:3])
        np.testing.assert_array_equal(wav.read(15990, 20000), expected[15990:])
        assert wav.read(17000, 18000).size == 0


def test_mono_wav_refuses_stereo_and_junk(tmp_path):
    stereo = write_wav(tmp_path / "stereo.wav", np.zeros((100, 2), dtype=np.int16))
    with pytest.raises(MediaError, match="16-bit mono"):
        media.MonoWav(stereo)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav file at all")
    with pytest.raises(MediaError, match="not a readable PCM wav"):
        media.MonoWav(junk)


def streamed(samples):
    return StreamedMfcc(lambda start, stop: samples[max(start, 0):stop], len(samples))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 20000), st.integers(1, 40), st.integers(1, 50), st.integers(0, 2**32 - 1))
def test_streamed_mfcc_equals_the_whole_signal(n_samples, span, block, seed):
    samples = np.random.default_rng(seed).integers(-32768, 32767, n_samples, dtype=np.int16)
    whole = reference_mfcc(samples)
    coefficients = streamed(samples)
    coefficients.BLOCK_COLUMNS = block  # small blocks, so that spans cross block boundaries
    assert coefficients.n_columns == whole.shape[1] == mfcc_frame_count(n_samples)
    # Overlapping spans, as consecutive batches of windows ask for them (window i: 4i..4i+19).
    for start in range(0, coefficients.n_columns, span):
        stop = min(start + 2 * span, coefficients.n_columns)
        # Bit for bit: every frame sees the same pre-emphasised samples and the same end padding.
        np.testing.assert_array_equal(coefficients.columns(start, stop), whole[:, start:stop])
    # Going back to the start recomputes it.
    np.testing.assert_array_equal(coefficients.columns(0, 1), whole[:, :1])


def test_streamed_mfcc_refuses_columns_past_the_end():
    coefficients = streamed(np.zeros(1000, dtype=np.int16))
    with pytest.raises(ValueError, match="outside"):
        coefficients.columns(0, coefficients.n_columns + 1)
