"""Speech regions of a whole recording by the Silero VAD faster-whisper ships, in bounded memory (issue 13).

faster-whisper's get_speech_timestamps pads a copy of the input, builds a second copy with 64 samples of
context per 512-sample frame, and runs the model over all of it: about three waveforms at once, 0.7 GB for an
hour. Here the model runs over one chunk of frames at a time, carrying its state (h, c and the context
samples) from chunk to chunk, so the probabilities are those of one pass, exactly; then faster-whisper's rule
turns them into regions (speech starts above `threshold`, ends after `min_silence_duration_ms` under
`threshold - 0.15`, and is kept if longer than `min_speech_duration_ms`). No padding here: speech_windows pads.
"""

from __future__ import annotations

import numpy as np

FRAME_SAMPLES = 512  # the model's frame at 16 kHz
CONTEXT_SAMPLES = 64  # samples of the frame before, which the model sees with each frame
CHUNK_FRAMES = 10000  # frames per model call (320 s): faster-whisper's own batch, so the numbers are its own
SAMPLE_RATE = 16000


def speech_probabilities(samples: np.ndarray, chunk_frames: int = CHUNK_FRAMES) -> np.ndarray:
    """The model's speech probability of each 512-sample frame (the last one zero-padded), chunk by chunk."""
    from faster_whisper.vad import get_vad_model

    session = get_vad_model().session
    frames = -(-len(samples) // FRAME_SAMPLES)
    out = np.empty(frames, dtype=np.float32)
    h = np.zeros((1, 1, 128), dtype=np.float32)
    c = np.zeros((1, 1, 128), dtype=np.float32)
    context = np.zeros((1, CONTEXT_SAMPLES), dtype=np.float32)
    for first in range(0, frames, chunk_frames):
        count = min(chunk_frames, frames - first)
        piece = samples[first * FRAME_SAMPLES : (first + count) * FRAME_SAMPLES].astype(np.float32, copy=False)
        block = np.zeros((count, FRAME_SAMPLES), dtype=np.float32)
        block.reshape(-1)[: len(piece)] = piece
        previous = np.concatenate([context, block[:-1, -CONTEXT_SAMPLES:]], axis=0)
        probabilities, h, c = session.run(None, {"input": np.concatenate([previous, block], axis=1), "h": h, "c": c})
        out[first : first + count] = np.asarray(probabilities).reshape(-1)
        context = block[-1:, -CONTEXT_SAMPLES:]
    return out


def speech_regions(
    samples: np.ndarray,
    threshold: float = 0.5,
    min_silence_duration_ms: int = 160,
    min_speech_duration_ms: int = 0,
    chunk_frames: int = CHUNK_FRAMES,
) -> list[tuple[int, int]]:
    """(start, end) sample indices of each stretch of speech, unpadded; 160 ms of silence ends one, as in
    faster-whisper's batched pipeline."""
    probabilities = speech_probabilities(samples, chunk_frames)
    return regions_from_probabilities(
        probabilities, len(samples), threshold, min_silence_duration_ms * SAMPLE_RATE // 1000,
        min_speech_duration_ms * SAMPLE_RATE // 1000,
    )


def regions_from_probabilities(
    probabilities: np.ndarray, total_samples: int, threshold: float, min_silence_samples: int, min_speech_samples: int
) -> list[tuple[int, int]]:
    """faster-whisper's get_speech_timestamps rule without max_speech_duration_s (speech_windows cuts long
    regions) and without padding."""
    low = max(threshold - 0.15, 0.01)
    regions, start, silence_from = [], None, 0
    for index, probability in enumerate(probabilities):
        at = index * FRAME_SAMPLES
        if probability >= threshold:
            silence_from = 0
            if start is None:
                start = at
            continue
        if start is None or probability >= low:
            continue
        if not silence_from:
            silence_from = at
        if at - silence_from >= min_silence_samples:
            if silence_from - start > min_speech_samples:
                regions.append((start, silence_from))
            start, silence_from = None, 0
    if start is not None and total_samples - start > min_speech_samples:
        regions.append((start, total_samples))
    return regions
