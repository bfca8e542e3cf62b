"""The scipy replacements on the scoring path agree with scipy exactly."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import signal
from scipy.io import wavfile

from syncnet import media
from syncnet.errors import MediaError
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


def test_read_mono_wav_equals_scipy(tmp_path):
    rng = np.random.default_rng(0)
    samples = rng.integers(-32768, 32767, 16000, dtype=np.int16)
    path = tmp_path / "a.wav"
    wavfile.write(path, 16000, samples)
    got = media.read_mono_wav(path)
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, wavfile.read(path)[1])


def test_read_mono_wav_reads_what_extract_audio_writes(tmp_path):
    clip = tmp_path / "tone.avi"
    media.run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1",
                      "-f", "lavfi", "-i", "color=size=64x64:rate=25:duration=1",
                      "-c:a", "pcm_s16le", str(clip)], "make a test clip")
    wav = tmp_path / "audio.wav"
    media.extract_audio(clip, wav)
    got = media.read_mono_wav(wav)
    rate, expected = wavfile.read(wav)
    assert rate == media.SAMPLE_RATE
    np.testing.assert_array_equal(got, expected)
    assert abs(len(got) - media.SAMPLE_RATE) <= 640


def test_read_mono_wav_refuses_stereo_and_junk(tmp_path):
    stereo = tmp_path / "stereo.wav"
    wavfile.write(stereo, 16000, np.zeros((100, 2), dtype=np.int16))
    with pytest.raises(MediaError, match="16-bit mono"):
        media.read_mono_wav(stereo)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav file at all")
    with pytest.raises(MediaError, match="not a readable PCM wav"):
        media.read_mono_wav(junk)
