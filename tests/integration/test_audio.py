"""The scoring audio of real media: MonoWav reads what extract_audio writes, and StreamedMfcc, in
the scorer's batches on the demo clip, equals the whole file's MFCC exactly."""
import numpy as np
from scipy.io import wavfile

from syncnet.io import media
from syncnet.scoring.distances import StreamedMfcc, window_columns
from tests.helpers import reference_mfcc


def test_mono_wav_reads_what_extract_audio_writes(tmp_path):
    clip = tmp_path / "tone.avi"
    media.run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1",
                      "-f", "lavfi", "-i", "color=size=64x64:rate=25:duration=1",
                      "-c:a", "pcm_s16le", str(clip)], "make a test clip")
    wav_path = tmp_path / "audio.wav"
    media.extract_audio(clip, wav_path)
    rate, expected = wavfile.read(wav_path)
    with media.MonoWav(wav_path) as wav:
        assert wav.rate == rate == media.SAMPLE_RATE
        np.testing.assert_array_equal(wav.read(0, wav.n_samples), expected)
    assert abs(len(expected) - media.SAMPLE_RATE) <= 640


def test_streamed_mfcc_on_the_demo_clip_in_scoring_batches(clip, tmp_path):
    wav_path = tmp_path / "audio.wav"
    media.extract_audio(clip("example.avi"), wav_path)
    with media.MonoWav(wav_path) as wav:
        whole = reference_mfcc(wav.read(0, wav.n_samples))
        coefficients = StreamedMfcc(wav.read, wav.n_samples)
        n_windows = wav.n_samples // 640 - 5
        for first in range(0, n_windows, 20):
            start, stop = window_columns(first, min(20, n_windows - first))
            np.testing.assert_array_equal(coefficients.columns(start, stop), whole[:, start:stop])
