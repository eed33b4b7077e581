"""The engine transcribes audio that arrives in pieces: each piece with its time offset and the text before it."""

from __future__ import annotations

from whisper_cli.audio import SAMPLE_RATE, load_audio
from whisper_cli.options import DecodeOptions

from same_words import words

TIMED = DecodeOptions(word_timestamps=True)


def _widest_pause(all_words, duration: float) -> float:
    """The middle of the longest pause between two words in the middle half of the recording."""
    pauses = [
        (later.start - earlier.end, (earlier.end + later.start) / 2)
        for earlier, later in zip(all_words, all_words[1:])
        if duration / 4 < later.start and earlier.end < 3 * duration / 4
    ]
    return max(pauses)[1]


def test_two_halves_with_offset_and_prompt_give_the_whole_files_words_and_times(tiny_whisper, shared_samples, transcribe_calls):
    samples = load_audio(shared_samples / "jfk.flac")
    whole = list(tiny_whisper(samples, TIMED).segments)
    whole_words = [word for segment in whole for word in segment.words]
    cut_s = _widest_pause(whole_words, len(samples) / SAMPLE_RATE)
    cut = round(cut_s * SAMPLE_RATE)

    first = list(tiny_whisper(samples[:cut], TIMED).segments)
    first_text = "".join(segment.text for segment in first).strip()
    second_stream = tiny_whisper(samples[cut:], TIMED, offset_s=cut / SAMPLE_RATE, prompt=first_text)
    second = list(second_stream.segments)

    assert transcribe_calls[-1][1]["initial_prompt"] == first_text  # the first half's text reached the decoder
    pieces_words = [word for segment in first + second for word in segment.words]
    assert words("".join(w.text for w in pieces_words)) == words("".join(w.text for w in whole_words))
    assert len(pieces_words) == len(whole_words)
    for piece_word, whole_word in zip(pieces_words, whole_words):
        assert abs(piece_word.start - whole_word.start) <= 0.5, (piece_word, whole_word)
        assert abs(piece_word.end - whole_word.end) <= 0.5, (piece_word, whole_word)
    assert all(cut_s - 0.5 <= segment.start for segment in second)  # the second half is timed from the file's start
    assert second_stream.info.duration == len(samples) / SAMPLE_RATE
