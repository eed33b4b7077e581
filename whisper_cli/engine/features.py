"""faster-whisper's log-mel features computed window by window, so memory does not grow with duration.

Measured on a 60-minute recording: faster-whisper's own extractor adds about 2.9 GB at its peak
(a whole-file STFT); this one adds the features themselves, about 40 MB.
"""

from __future__ import annotations

from typing import Any

FRAMES_PER_SECOND = 100  # log-mel frames per second of audio (a 10 ms hop)
WINDOW_FRAMES = 3000  # mel frames in one Whisper window, what its encoder takes: 30 s


def clip_features(model: Any, audio) -> Any:
    """The clip's log-mel frames, shape (n_mels, frames), without faster-whisper's extra final frame."""
    return model.feature_extractor(audio)[:, :-1]


def __getattr__(name: str):
    # WindowedFeatureExtractor subclasses faster-whisper's extractor, and importing faster-whisper costs
    # seconds; the constants above are read by pure modules (packing.py) that must not pay for it.
    if name == "WindowedFeatureExtractor":
        from faster_whisper.feature_extractor import FeatureExtractor

        extractor = type(name, (WindowedLogMel, FeatureExtractor), {"__module__": __name__, "__doc__": WindowedLogMel.__doc__})
        globals()[name] = extractor
        return extractor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class WindowedLogMel:
    """faster-whisper's log-mel, computed 30 s of frames at a time (mixed into its FeatureExtractor).

    faster-whisper's extractor takes the STFT of the whole waveform at once (frames, complex128 FFT,
    complex64 copy, magnitudes: about 45 bytes per sample, 2.7 GB for an hour) and pads a copy of the
    waveform first. Frame by frame the STFT is independent, so this computes the same frames window by
    window into one preallocated (n_mels, frames) array; only the final clamp to (global max - 8) needs
    the whole spectrogram, and it runs in place. Peak extra memory: the features (0.3 bytes per sample).
    """

    window_frames = WINDOW_FRAMES  # frames per pass

    def __call__(self, waveform, padding=160, chunk_length=None):
        import numpy as np

        if chunk_length is not None:
            self.n_samples = chunk_length * self.sampling_rate
            self.nb_max_frames = self.n_samples // self.hop_length
        waveform = waveform.astype(np.float32, copy=False)
        half, hop = self.n_fft // 2, self.hop_length
        length = len(waveform) + padding  # the waveform as faster-whisper pads it, never materialised
        frames = length // hop  # faster-whisper drops the last of its 1 + length // hop frames
        window = np.hanning(self.n_fft + 1)[:-1].astype("float32")
        log_spec = np.empty((self.mel_filters.shape[0], frames), np.float32)
        for first in range(0, frames, self.window_frames):
            last = min(first + self.window_frames, frames)
            piece = _reflect_padded(waveform, padding, first * hop - half, (last - 1) * hop + half)
            stft = self.stft(piece, self.n_fft, hop, window=window, center=False, return_complex=True)
            magnitudes = np.abs(stft.astype("complex64")) ** 2
            log_spec[:, first:last] = np.log10(np.clip(self.mel_filters @ magnitudes, a_min=1e-10, a_max=None))
        np.maximum(log_spec, log_spec.max() - 8.0, out=log_spec)
        log_spec += 4.0
        log_spec /= 4.0
        return log_spec


def _reflect_padded(waveform, padding: int, start: int, stop: int):
    """Samples [start, stop) of np.pad(np.pad(waveform, (0, padding)), n_fft // 2, mode="reflect")'s
    coordinates shifted so that 0 is the waveform's first sample (start may be negative)."""
    import numpy as np

    length = len(waveform) + padding
    index = np.arange(start, stop)
    index = np.abs(index)  # reflect at the start: x[-i] = x[i]
    index = np.where(index >= length, 2 * (length - 1) - index, index)  # reflect at the end
    out = np.zeros(len(index), np.float32)
    inside = index < len(waveform)
    out[inside] = waveform[index[inside]]
    return out
