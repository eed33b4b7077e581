"""Speech regions -> decode windows (whisper_cli/speech_windows.py), on made-up regions: no model, no audio."""

from __future__ import annotations

import numpy as np
import pytest

from whisper_cli.speech_windows import (
    FRAME_SAMPLES,
    PAD_SAMPLES,
    SAMPLE_RATE,
    WINDOW_SAMPLES,
    frame_loudness,
    pad_regions,
    plan_windows,
)

S = SAMPLE_RATE  # samples per second


def seconds(*pairs):
    return [(round(a * S), round(b * S)) for a, b in pairs]


def spans_s(windows):
    return [(w.start_s, w.end_s) for w in windows]


def test_regions_are_padded_as_faster_whisper_pads_them():
    # Gap of 0.5 s (< two pads): shared half and half; gap of 3 s: each side padded 0.4 s; clipped to the input.
    regions = seconds((0.2, 1.0), (1.5, 2.0), (5.0, 6.0))
    assert pad_regions(regions, PAD_SAMPLES, 6 * S + 1000) == seconds((0.0, 1.25), (1.25, 2.4), (4.6, 6.0 + 1000 / S))


def test_every_window_is_at_most_30_s_and_covers_every_region():
    rng = np.random.default_rng(5)
    starts = np.cumsum(rng.uniform(0.3, 5.0, 200) + rng.uniform(0.5, 12.0, 200))
    regions = [(int(a * S), int((a + rng.uniform(0.5, 12.0)) * S)) for a in starts]
    regions = [(a, min(b, regions[i + 1][0] - 1) if i + 1 < len(regions) else b) for i, (a, b) in enumerate(regions)]
    total = regions[-1][1] + S
    windows = plan_windows(regions, total)
    assert all(0 < w.end - w.start <= WINDOW_SAMPLES for w in windows)
    assert all(a.end <= b.start for a, b in zip(windows, windows[1:]))
    for start, end in regions:  # inside one window, whole: no word is split
        assert any(w.start <= start and end <= w.end for w in windows), (start / S, end / S)


def test_window_ends_at_the_longest_pause_not_the_last_one_that_fits():
    # Regions of 5 s: the pause after the 4th (at 24.5-28.5 s) is long; the 6th region would not fit.
    regions = seconds((0, 5), (5.5, 10.5), (11, 16), (16.5, 21.5), (25.5, 28), (28.5, 29.2), (29.7, 34))
    windows = plan_windows(regions, 40 * S, pad_samples=0)
    assert spans_s(windows) == [(0.0, 21.5), (25.5, 34.0)]


def test_a_window_is_not_ended_early_to_reach_a_long_pause():
    # The long pause is after 3 s of speech: ending there would leave the window under 70% full.
    regions = seconds((0, 3), (8, 14), (14.5, 20), (20.5, 26), (26.5, 29.5), (30, 33))
    windows = plan_windows(regions, 40 * S, pad_samples=0)
    assert spans_s(windows) == [(0.0, 29.5), (30.0, 33.0)]


def test_region_longer_than_a_window_is_cut_at_its_quietest_point():
    total = 50 * S
    loudness = np.ones(total // FRAME_SAMPLES, dtype=np.float32)
    quiet_frame = int(22.0 * S) // FRAME_SAMPLES
    loudness[quiet_frame - 3 : quiet_frame + 4] = 0.001
    windows = plan_windows(seconds((1, 49)), total, loudness=loudness, pad_samples=0)
    assert len(windows) == 2
    assert windows[0].start_s == 1 and windows[1].end_s == 49
    assert windows[0].end == windows[1].start
    assert abs(windows[0].end_s - 22.0) < 0.1


def test_very_long_region_is_cut_into_pieces_that_all_fit():
    total = 200 * S
    loudness = np.random.default_rng(1).uniform(0.5, 1.0, total // FRAME_SAMPLES).astype(np.float32)
    windows = plan_windows(seconds((0, 200)), total, loudness=loudness)
    assert all(w.end - w.start <= WINDOW_SAMPLES for w in windows)
    assert windows[0].start == 0 and windows[-1].end == total
    assert all(a.end == b.start for a, b in zip(windows, windows[1:]))


def test_regions_closer_than_two_pads_merge_into_one_window():
    windows = plan_windows(seconds((1, 3), (3.5, 6)), 10 * S)
    assert spans_s(windows) == [(0.6, 6.4)]


def test_no_regions_no_windows():
    assert plan_windows([], 10 * S) == []


@pytest.mark.parametrize("length", [0, 511, 512, 5 * 4096 * 512 + 100])
def test_frame_loudness_is_the_mean_square_of_each_frame(length):
    samples = np.random.default_rng(2).uniform(-1, 1, length).astype(np.float32)
    frames = length // FRAME_SAMPLES
    expected = np.mean(np.square(samples[: frames * FRAME_SAMPLES].reshape(frames, FRAME_SAMPLES)), axis=1)
    assert np.allclose(frame_loudness(samples), expected)


def test_a_window_ends_at_a_long_pause_only_if_it_stays_70_percent_full():
    # The long pause (18-21 s) would end the window 60% full: each window costs a whole encoder pass, so it
    # runs on to the shorter pause at 26.5 s instead.
    regions = seconds((0, 6), (6.5, 12), (12.5, 18), (21, 26.5), (27, 32), (32.5, 36))
    windows = plan_windows(regions, 40 * S, pad_samples=0)
    assert spans_s(windows) == [(0.0, 26.5), (27.0, 36.0)]
