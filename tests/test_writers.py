"""Writers against exact strings from hand-built transcripts, and against real subtitle consumers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
import srt
import webvtt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whisper_cli.transcript import Segment, Transcript, TranscriptInfo, Word
from whisper_cli.writers import (
    WRITERS,
    OutputFormat,
    SubtitleLayout,
    Writer,
    make_writer,
)

from openai_shape import assert_openai_document

INFO = TranscriptInfo(
    source="talk.wav",
    duration=7.0,
    language="en",
    language_probability=0.98,
    model="tiny.en",
    device="cpu",
    compute_type="int8",
    settings={"beam_size": 5, "temperature": [0.0, 0.2], "vad_filter": False},
)

TWO_SEGMENTS = Transcript(
    INFO,
    (
        Segment(0, 0.0, 2.5, " Hello world.", avg_logprob=-0.25, no_speech_prob=0.01, compression_ratio=1.2,
                temperature=0.0, seek=0, tokens=(50364, 2425, 1002, 13, 50489)),
        Segment(1, 2.5, 6.84, " How are you?", avg_logprob=-0.5, no_speech_prob=0.02, compression_ratio=1.1,
                temperature=0.2, seek=250, tokens=(50364, 1012, 366, 291, 30, 50581)),
    ),
)

EMPTY = Transcript(INFO, ())


def render(fmt: str, *segments: Segment, layout: SubtitleLayout = SubtitleLayout()) -> str:
    return make_writer(OutputFormat(fmt), layout).render(Transcript(INFO, segments))


def words(*spec: tuple[float, float, str]) -> tuple[Word, ...]:
    return tuple(Word(start, end, text, 0.9) for start, end, text in spec)


# --- a normal two-segment transcript ------------------------------------------------------------


def test_txt_is_one_stripped_line_per_segment():
    assert make_writer(OutputFormat.TXT).render(TWO_SEGMENTS) == "Hello world.\nHow are you?\n"


def test_srt_numbers_cues_from_1_with_comma_milliseconds():
    assert make_writer(OutputFormat.SRT).render(TWO_SEGMENTS) == (
        "1\n"
        "00:00:00,000 --> 00:00:02,500\n"
        "Hello world.\n"
        "\n"
        "2\n"
        "00:00:02,500 --> 00:00:06,840\n"
        "How are you?\n"
        "\n"
    )


def test_vtt_has_header_and_always_hours():
    assert make_writer(OutputFormat.VTT).render(TWO_SEGMENTS) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.000 --> 00:00:02.500\n"
        "Hello world.\n"
        "\n"
        "00:00:02.500 --> 00:00:06.840\n"
        "How are you?\n"
        "\n"
    )


def test_tsv_is_openai_whisper_style_with_integer_milliseconds():
    assert make_writer(OutputFormat.TSV).render(TWO_SEGMENTS) == (
        "start\tend\ttext\n"
        "0\t2500\tHello world.\n"
        "2500\t6840\tHow are you?\n"
    )


def test_jsonl_is_one_compact_object_per_segment():
    assert make_writer(OutputFormat.JSONL).render(TWO_SEGMENTS) == (
        '{"id":0,"seek":0,"start":0.0,"end":2.5,"text":" Hello world.","tokens":[50364,2425,1002,13,50489],'
        '"avg_logprob":-0.25,"no_speech_prob":0.01,"compression_ratio":1.2,"temperature":0.0,"suspect":false}\n'
        '{"id":1,"seek":250,"start":2.5,"end":6.84,"text":" How are you?","tokens":[50364,1012,366,291,30,50581],'
        '"avg_logprob":-0.5,"no_speech_prob":0.02,"compression_ratio":1.1,"temperature":0.2,"suspect":false}\n'
    )


def test_json_is_openai_whisper_document_plus_provenance():
    assert make_writer(OutputFormat.JSON).render(TWO_SEGMENTS) == """\
{
  "text": "Hello world. How are you?",
  "segments": [
    {
      "id": 0,
      "seek": 0,
      "start": 0.0,
      "end": 2.5,
      "text": " Hello world.",
      "tokens": [
        50364,
        2425,
        1002,
        13,
        50489
      ],
      "avg_logprob": -0.25,
      "no_speech_prob": 0.01,
      "compression_ratio": 1.2,
      "temperature": 0.0,
      "suspect": false
    },
    {
      "id": 1,
      "seek": 250,
      "start": 2.5,
      "end": 6.84,
      "text": " How are you?",
      "tokens": [
        50364,
        1012,
        366,
        291,
        30,
        50581
      ],
      "avg_logprob": -0.5,
      "no_speech_prob": 0.02,
      "compression_ratio": 1.1,
      "temperature": 0.2,
      "suspect": false
    }
  ],
  "language": "en",
  "schema_version": 2,
  "source": "talk.wav",
  "duration": 7.0,
  "language_probability": 0.98,
  "model": "tiny.en",
  "device": "cpu",
  "compute_type": "int8",
  "settings": {
    "beam_size": 5,
    "temperature": [
      0.0,
      0.2
    ],
    "vad_filter": false
  }
}
"""


def test_json_segment_words_round_times_to_milliseconds():
    segment = Segment(
        0, 0.12345, 1.98765, " Hi there", words=(Word(0.12345, 0.5004, " Hi", 0.75), Word(0.6, 1.98765, " there", 0.5))
    )
    assert render("jsonl", segment) == (
        '{"id":0,"seek":0,"start":0.123,"end":1.988,"text":" Hi there","tokens":[],"avg_logprob":null,'
        '"no_speech_prob":null,"compression_ratio":null,"temperature":null,"suspect":false,"words":['
        '{"start":0.123,"end":0.5,"word":" Hi","probability":0.75},'
        '{"start":0.6,"end":1.988,"word":" there","probability":0.5}]}\n'
    )


def test_json_and_jsonl_segments_have_openai_whispers_keys_and_types():
    worded = Segment(
        0, 0.5, 1.5, " Hi there", words=(Word(0.5, 0.9, " Hi", 0.75), Word(0.9, 1.5, " there", 0.5)),
        seek=0, tokens=(50389, 2421, 456, 50439), avg_logprob=-0.3, no_speech_prob=0.02, compression_ratio=0.8,
        temperature=0.0, speaker="A",
    )
    for transcript, with_words in ((TWO_SEGMENTS, False), (Transcript(INFO, (worded,)), True)):
        document = json.loads(make_writer(OutputFormat.JSON).render(transcript))
        assert_openai_document(document, words=with_words)
        lines = make_writer(OutputFormat.JSONL).render(transcript).splitlines()
        assert [json.loads(line) for line in lines] == document["segments"]
    assert document["segments"][0]["seek"] == 0 and document["segments"][0]["tokens"] == [50389, 2421, 456, 50439]


def test_json_never_writes_nan_or_infinity():
    info = TranscriptInfo("a.wav", float("nan"), settings={"max_speech_duration_s": float("inf"), "tuple": (1, 2)})
    transcript = Transcript(info, (Segment(0, 0.0, 1.0, " x", avg_logprob=float("-inf"), temperature=float("nan")),))

    def reject(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    document = json.loads(make_writer(OutputFormat.JSON).render(transcript), parse_constant=reject)
    assert document["duration"] is None
    assert document["settings"] == {"max_speech_duration_s": None, "tuple": [1, 2]}
    assert document["segments"][0]["avg_logprob"] is None
    line = make_writer(OutputFormat.JSONL).render(transcript)
    assert json.loads(line, parse_constant=reject)["temperature"] is None


# --- an empty transcript -------------------------------------------------------------------------


def test_empty_transcript_gives_empty_or_header_only_outputs():
    assert make_writer(OutputFormat.SRT).render(EMPTY) == ""
    assert make_writer(OutputFormat.VTT).render(EMPTY) == "WEBVTT\n\n"
    assert make_writer(OutputFormat.TXT).render(EMPTY) == ""
    assert make_writer(OutputFormat.TSV).render(EMPTY) == "start\tend\ttext\n"
    assert make_writer(OutputFormat.JSONL).render(EMPTY) == ""


def test_empty_transcript_json_has_no_segments_and_empty_text():
    transcript = Transcript(TranscriptInfo("silence.wav", 3.0), ())
    assert make_writer(OutputFormat.JSON).render(transcript) == """\
{
  "text": "",
  "segments": [],
  "language": null,
  "schema_version": 2,
  "source": "silence.wav",
  "duration": 3.0,
  "language_probability": null,
  "model": null,
  "device": null,
  "compute_type": null,
  "settings": {}
}
"""


# --- timestamps ----------------------------------------------------------------------------------


def test_timestamps_past_one_hour_and_past_100_hours():
    late = Segment(0, 3725.5, 3729.25, " an hour in")
    very_late = Segment(1, 360000.0, 363723.125, " a hundred hours in")
    assert render("srt", late, very_late) == (
        "1\n"
        "01:02:05,500 --> 01:02:09,250\n"
        "an hour in\n"
        "\n"
        "2\n"
        "100:00:00,000 --> 101:02:03,125\n"
        "a hundred hours in\n"
        "\n"
    )
    assert render("vtt", late, very_late) == (
        "WEBVTT\n"
        "\n"
        "01:02:05.500 --> 01:02:09.250\n"
        "an hour in\n"
        "\n"
        "100:00:00.000 --> 101:02:03.125\n"
        "a hundred hours in\n"
        "\n"
    )
    assert render("tsv", late, very_late) == (
        "start\tend\ttext\n"
        "3725500\t3729250\tan hour in\n"
        "360000000\t363723125\ta hundred hours in\n"
    )


def test_timestamps_round_to_milliseconds_before_formatting():
    assert render("srt", Segment(0, 59.9999, 3599.9996, " x")) == "1\n00:01:00,000 --> 01:00:00,000\nx\n\n"


def test_negative_start_is_clamped_to_zero_and_end_before_start_to_start():
    assert render("srt", Segment(0, -0.5, 1.0, " a"), Segment(1, 5.0, 4.0, " b")) == (
        "1\n00:00:00,000 --> 00:00:01,000\na\n\n"
        "2\n00:00:05,000 --> 00:00:05,000\nb\n\n"
    )
    assert render("tsv", Segment(0, 5.0, 4.0, " b")) == "start\tend\ttext\n5000\t5000\tb\n"


# --- text hygiene --------------------------------------------------------------------------------


def test_arrow_in_text_cannot_start_a_new_cue():
    segment = Segment(0, 1.0, 2.0, " a --> b, c - > d, e --- > f")
    assert render("srt", segment) == "1\n00:00:01,000 --> 00:00:02,000\na -> b, c -> d, e -> f\n\n"
    assert render("vtt", segment) == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na --&gt; b, c - &gt; d, e --- &gt; f\n\n"
    )
    assert render("txt", segment) == "a --> b, c - > d, e --- > f\n"


def test_vtt_escapes_ampersand_and_angle_brackets():
    segment = Segment(0, 0.0, 1.0, " Tom & Jerry <v Bob> <b>bold</b> &amp;")
    assert render("vtt", segment) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:01.000\n"
        "Tom &amp; Jerry &lt;v Bob&gt; &lt;b&gt;bold&lt;/b&gt; &amp;amp;\n\n"
    )


def test_non_ascii_text_is_written_as_is():
    german = Segment(0, 0.0, 1.5, " Grüße aus München, Straße!")
    japanese = Segment(1, 1.5, 3.0, "こんにちは、世界。")
    emoji = Segment(2, 3.0, 4.0, " Party time 🎉👩‍👩‍👧")
    assert render("srt", german, japanese, emoji) == (
        "1\n00:00:00,000 --> 00:00:01,500\nGrüße aus München, Straße!\n\n"
        "2\n00:00:01,500 --> 00:00:03,000\nこんにちは、世界。\n\n"
        "3\n00:00:03,000 --> 00:00:04,000\nParty time 🎉👩‍👩‍👧\n\n"
    )
    assert render("vtt", german, japanese, emoji) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:01.500\nGrüße aus München, Straße!\n\n"
        "00:00:01.500 --> 00:00:03.000\nこんにちは、世界。\n\n"
        "00:00:03.000 --> 00:00:04.000\nParty time 🎉👩‍👩‍👧\n\n"
    )
    assert render("txt", german, japanese, emoji) == (
        "Grüße aus München, Straße!\nこんにちは、世界。\nParty time 🎉👩‍👩‍👧\n"
    )
    assert render("jsonl", japanese) == (
        '{"id":1,"seek":0,"start":1.5,"end":3.0,"text":"こんにちは、世界。","tokens":[],"avg_logprob":null,"no_speech_prob":null,'
        '"compression_ratio":null,"temperature":null,"suspect":false}\n'
    )
    document = make_writer(OutputFormat.JSON).render(Transcript(INFO, (german, japanese, emoji)))
    assert '"text": " Grüße aus München, Straße!"' in document  # ensure_ascii=False: readable, not \u00fc
    assert json.loads(document)["text"] == (
        "Grüße aus München, Straße!こんにちは、世界。 Party time 🎉👩‍👩‍👧"
    )


def test_line_breaks_blank_lines_and_control_characters_do_not_break_cues():
    segment = Segment(0, 0.0, 1.0, " first\n\nsecond\r\nthird\tfourth\x00\x1b[31m red\u2028end ")
    assert render("srt", segment) == "1\n00:00:00,000 --> 00:00:01,000\nfirst second third fourth[31m red end\n\n"
    assert render("vtt", segment) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nfirst second third fourth[31m red end\n\n"
    )
    assert render("txt", segment) == "first second third fourth[31m red end\n"
    assert render("tsv", segment) == "start\tend\ttext\n0\t1000\tfirst second third fourth[31m red end\n"


def test_empty_segments_are_skipped_and_numbering_stays_contiguous():
    segments = (
        Segment(0, 0.0, 1.0, " one"),
        Segment(1, 1.0, 2.0, ""),
        Segment(2, 2.0, 3.0, " \n\t \x00 "),
        Segment(3, 3.0, 4.0, " two"),
    )
    assert render("srt", *segments) == (
        "1\n00:00:00,000 --> 00:00:01,000\none\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\ntwo\n\n"
    )
    assert render("vtt", *segments) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\none\n\n00:00:03.000 --> 00:00:04.000\ntwo\n\n"
    )
    assert render("txt", *segments) == "one\ntwo\n"
    assert render("tsv", *segments) == "start\tend\ttext\n0\t1000\tone\n3000\t4000\ttwo\n"


def test_lone_surrogates_become_replacement_characters_so_output_encodes():
    segment = Segment(0, 0.0, 1.0, " bad \ud800 text")
    for fmt in OutputFormat:
        output = render(fmt.value, segment)
        output.encode("utf-8")
        assert "\ufffd" in output


# --- speaker labels ------------------------------------------------------------------------------


def test_speaker_labels_in_every_format():
    alice = Segment(0, 0.0, 1.0, " Hi, Bob.", speaker="Alice")
    bob = Segment(1, 1.0, 2.0, " Hi <Alice> & co.", speaker="Bob & Co")
    nobody = Segment(2, 2.0, 3.0, " Bye.")
    assert render("txt", alice, bob, nobody) == "[Alice] Hi, Bob.\n[Bob & Co] Hi <Alice> & co.\nBye.\n"
    assert render("srt", alice, bob, nobody) == (
        "1\n00:00:00,000 --> 00:00:01,000\n[Alice] Hi, Bob.\n\n"
        "2\n00:00:01,000 --> 00:00:02,000\n[Bob & Co] Hi <Alice> & co.\n\n"
        "3\n00:00:02,000 --> 00:00:03,000\nBye.\n\n"
    )
    assert render("vtt", alice, bob, nobody) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:01.000\n<v Alice>Hi, Bob.\n\n"
        "00:00:01.000 --> 00:00:02.000\n<v Bob &amp; Co>Hi &lt;Alice&gt; &amp; co.\n\n"
        "00:00:02.000 --> 00:00:03.000\nBye.\n\n"
    )
    assert render("tsv", alice, nobody) == "start\tend\ttext\n0\t1000\t[Alice] Hi, Bob.\n2000\t3000\tBye.\n"
    assert render("jsonl", alice, nobody) == (
        '{"id":0,"seek":0,"start":0.0,"end":1.0,"text":" Hi, Bob.","tokens":[],"speaker":"Alice","avg_logprob":null,'
        '"no_speech_prob":null,"compression_ratio":null,"temperature":null,"suspect":false}\n'
        '{"id":2,"seek":0,"start":2.0,"end":3.0,"text":" Bye.","tokens":[],"avg_logprob":null,'
        '"no_speech_prob":null,"compression_ratio":null,"temperature":null,"suspect":false}\n'
    )
    parsed = webvtt.from_string(render("vtt", alice, bob), strict=True)
    assert [caption.voice for caption in parsed.captions] == ["Alice", "Bob &amp; Co"]


def test_vtt_speaker_label_ending_in_dash_cannot_form_an_arrow():
    output = render("vtt", Segment(0, 0.0, 1.0, " x", speaker="SPEAKER--"))
    assert output == "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n<v SPEAKER-- >x\n\n"
    assert output.count("-->") == 1


# --- layout --------------------------------------------------------------------------------------

FOX = Segment(0, 10.0, 14.0, " The quick brown fox jumps over the lazy dog.")
FOX_TIMED = Segment(
    0,
    10.0,
    14.0,
    " The quick brown fox jumps over the lazy dog.",
    words=words(
        (10.0, 10.2, " The"),
        (10.2, 10.6, " quick"),
        (10.6, 11.0, " brown"),
        (11.0, 11.4, " fox"),
        (11.5, 12.0, " jumps"),
        (12.0, 12.3, " over"),
        (12.3, 12.5, " the"),
        (12.5, 13.0, " lazy"),
        (13.0, 13.8, " dog."),
    ),
)


def test_max_line_width_breaks_lines_at_word_boundaries():
    layout = SubtitleLayout(max_line_width=16)
    assert render("srt", FOX, layout=layout) == (
        "1\n"
        "00:00:10,000 --> 00:00:14,000\n"
        "The quick brown\n"
        "fox jumps over\n"
        "the lazy dog.\n"
        "\n"
    )
    assert render("vtt", FOX, layout=layout) == (
        "WEBVTT\n\n00:00:10.000 --> 00:00:14.000\nThe quick brown\nfox jumps over\nthe lazy dog.\n\n"
    )


def test_a_word_longer_than_the_line_width_stands_alone():
    segment = Segment(0, 0.0, 2.0, " a Donaudampfschifffahrtsgesellschaft b c")
    assert render("srt", segment, layout=SubtitleLayout(max_line_width=5)) == (
        "1\n00:00:00,000 --> 00:00:02,000\na\nDonaudampfschifffahrtsgesellschaft\nb c\n\n"
    )


def test_line_width_counts_characters_not_escapes():
    segment = Segment(0, 0.0, 1.0, " a<b c&d e")
    assert render("vtt", segment, layout=SubtitleLayout(max_line_width=7)) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\na&lt;b c&amp;d\ne\n\n"
    )


def test_max_words_per_line():
    assert render("srt", FOX, layout=SubtitleLayout(max_words_per_line=4)) == (
        "1\n00:00:10,000 --> 00:00:14,000\nThe quick brown fox\njumps over the lazy\ndog.\n\n"
    )


def test_max_line_count_splits_into_cues_at_the_words_own_times():
    layout = SubtitleLayout(max_line_width=16, max_line_count=2)
    assert render("srt", FOX_TIMED, layout=layout) == (
        "1\n"
        "00:00:10,000 --> 00:00:12,300\n"
        "The quick brown\n"
        "fox jumps over\n"
        "\n"
        "2\n"
        "00:00:12,300 --> 00:00:13,800\n"
        "the lazy dog.\n"
        "\n"
    )
    assert render("vtt", FOX_TIMED, layout=SubtitleLayout(max_words_per_line=3, max_line_count=1)) == (
        "WEBVTT\n\n"
        "00:00:10.000 --> 00:00:11.000\nThe quick brown\n\n"
        "00:00:11.000 --> 00:00:12.300\nfox jumps over\n\n"
        "00:00:12.300 --> 00:00:13.800\nthe lazy dog.\n\n"
    )


def test_max_line_count_without_words_shares_the_time_by_characters():
    # The cues hold 13, 12 and 11 of the segment's 36 non-space characters, and get that share of its 4 s.
    layout = SubtitleLayout(max_line_width=16, max_line_count=1)
    assert render("srt", FOX, layout=layout) == (
        "1\n00:00:10,000 --> 00:00:11,444\nThe quick brown\n\n"
        "2\n00:00:11,444 --> 00:00:12,778\nfox jumps over\n\n"
        "3\n00:00:12,778 --> 00:00:14,000\nthe lazy dog.\n\n"
    )


def test_words_without_spaces_are_joined_without_spaces():
    segment = Segment(
        0, 0.0, 3.0, "今日は良い天気です",
        words=words((0.0, 1.0, "今日は"), (1.0, 2.0, "良い"), (2.0, 3.0, "天気です")),
    )
    assert render("srt", segment, layout=SubtitleLayout(max_line_width=5)) == (
        "1\n00:00:00,000 --> 00:00:03,000\n今日は良い\n天気です\n\n"
    )


def test_speaker_label_prefixes_every_split_cue():
    segment = Segment(0, 0.0, 2.0, " one two", speaker="A")
    layout = SubtitleLayout(max_words_per_line=1, max_line_count=1)
    assert render("srt", segment, layout=layout) == (
        "1\n00:00:00,000 --> 00:00:01,000\n[A] one\n\n2\n00:00:01,000 --> 00:00:02,000\n[A] two\n\n"
    )
    assert render("vtt", segment, layout=layout) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n<v A>one\n\n00:00:01.000 --> 00:00:02.000\n<v A>two\n\n"
    )


def test_srt_line_breaks_never_make_a_line_that_reads_as_a_cue_number_and_timing():
    segment = Segment(0, 0.0, 1.0, " at 7 1.2.3 shipped")
    output = render("srt", segment, layout=SubtitleLayout(max_words_per_line=1))
    assert output == "1\n00:00:00,000 --> 00:00:01,000\nat\n7 1.2.3\nshipped\n\n"
    assert [cue.content for cue in srt.parse(output)] == ["at\n7 1.2.3\nshipped"]


def test_layout_rejects_limits_below_one():
    with pytest.raises(ValueError, match="max_line_width"):
        SubtitleLayout(max_line_width=0)


# --- highlight_words -----------------------------------------------------------------------------

HELLO = Segment(
    0, 0.0, 2.0, " Hello big world", words=words((0.0, 0.5, " Hello"), (0.5, 1.0, " big"), (1.2, 1.8, " world"))
)


def test_highlight_words_underlines_each_word_in_its_own_time():
    layout = SubtitleLayout(highlight_words=True)
    assert render("srt", HELLO, layout=layout) == (
        "1\n00:00:00,000 --> 00:00:00,500\n<u>Hello</u> big world\n\n"
        "2\n00:00:00,500 --> 00:00:01,000\nHello <u>big</u> world\n\n"
        "3\n00:00:01,000 --> 00:00:01,200\nHello big world\n\n"
        "4\n00:00:01,200 --> 00:00:01,800\nHello big <u>world</u>\n\n"
        "5\n00:00:01,800 --> 00:00:02,000\nHello big world\n\n"
    )
    assert render("vtt", HELLO, layout=layout) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:00.500\n<u>Hello</u> big world\n\n"
        "00:00:00.500 --> 00:00:01.000\nHello <u>big</u> world\n\n"
        "00:00:01.000 --> 00:00:01.200\nHello big world\n\n"
        "00:00:01.200 --> 00:00:01.800\nHello big <u>world</u>\n\n"
        "00:00:01.800 --> 00:00:02.000\nHello big world\n\n"
    )


def test_highlight_words_with_line_breaks_escapes_and_speaker():
    segment = Segment(
        0, 0.0, 1.0, " Tom & Jerry",
        words=words((0.0, 0.3, " Tom"), (0.3, 0.6, " &"), (0.6, 1.0, " Jerry")),
        speaker="S",
    )
    layout = SubtitleLayout(highlight_words=True, max_words_per_line=2)
    assert render("vtt", segment, layout=layout) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:00.300\n<v S><u>Tom</u> &amp;\nJerry\n\n"
        "00:00:00.300 --> 00:00:00.600\n<v S>Tom <u>&amp;</u>\nJerry\n\n"
        "00:00:00.600 --> 00:00:01.000\n<v S>Tom &amp;\n<u>Jerry</u>\n\n"
    )


def test_highlight_words_without_word_times_writes_plain_cues():
    assert render("srt", FOX, layout=SubtitleLayout(highlight_words=True)) == (
        "1\n00:00:10,000 --> 00:00:14,000\nThe quick brown fox jumps over the lazy dog.\n\n"
    )


# --- the writer protocol -------------------------------------------------------------------------


def test_every_format_has_a_writer_with_its_extension():
    assert set(WRITERS) == set(OutputFormat)
    for fmt, writer_class in WRITERS.items():
        assert issubclass(writer_class, Writer)
        assert writer_class.extension == fmt.value
        assert isinstance(make_writer(fmt), writer_class)
    assert isinstance(make_writer("srt"), WRITERS[OutputFormat.SRT])  # type: ignore[arg-type]
    assert str(OutputFormat.JSONL) == "jsonl"


def test_json_does_not_stream_and_emits_everything_at_finish():
    writer = make_writer(OutputFormat.JSON)
    assert writer.streams is False
    assert writer.start(INFO) == ""
    assert writer.segment(TWO_SEGMENTS.segments[0]) == ""
    assert json.loads(writer.finish(TWO_SEGMENTS))["text"] == "Hello world. How are you?"
    assert all(WRITERS[fmt].streams for fmt in OutputFormat if fmt is not OutputFormat.JSON)


def test_srt_streams_segment_by_segment_and_start_resets_numbering():
    writer = make_writer(OutputFormat.SRT)
    for _ in range(2):
        assert writer.start(INFO) == ""
        assert writer.segment(TWO_SEGMENTS.segments[0]) == "1\n00:00:00,000 --> 00:00:02,500\nHello world.\n\n"
        assert writer.segment(TWO_SEGMENTS.segments[1]) == "2\n00:00:02,500 --> 00:00:06,840\nHow are you?\n\n"
        assert writer.finish(TWO_SEGMENTS) == ""


# --- real consumers ------------------------------------------------------------------------------

# Awkward on purpose: over an hour, over 100 hours, arrows, escapes, speakers, non-ASCII, blank lines.
AWKWARD = Transcript(
    INFO,
    (
        Segment(0, 0.0, 1.5, " Grüße --> こんにちは 🎉", speaker="A"),
        Segment(1, 1.5, 2.25, " Tom & Jerry <i>\n\nnext"),
        Segment(2, 2.25, 2.5, "   "),
        Segment(3, 3725.5, 3729.125, " an hour in", speaker="B & C"),
        Segment(4, 360000.0, 360001.001, " a hundred hours in"),
    ),
)
AWKWARD_TIMES_MS = [(0, 1500), (1500, 2250), (3725500, 3729125), (360000000, 360001001)]

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def ffmpeg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *args], capture_output=True, text=True, timeout=60)


def write(tmp_path: Path, fmt: OutputFormat, transcript: Transcript = AWKWARD) -> Path:
    path = tmp_path / f"x.{fmt.value}"
    path.write_text(make_writer(fmt).render(transcript), encoding="utf-8")
    return path


@needs_ffmpeg
def test_ffmpeg_converts_our_srt_to_ass_without_errors(tmp_path):
    result = ffmpeg("-i", str(write(tmp_path, OutputFormat.SRT)), str(tmp_path / "out.ass"))
    assert (result.returncode, result.stderr) == (0, "")
    assert "Grüße" in (tmp_path / "out.ass").read_text(encoding="utf-8")


@needs_ffmpeg
def test_ffmpeg_converts_our_vtt_to_srt_without_errors(tmp_path):
    result = ffmpeg("-i", str(write(tmp_path, OutputFormat.VTT)), str(tmp_path / "out.srt"))
    assert (result.returncode, result.stderr) == (0, "")
    converted = list(srt.parse((tmp_path / "out.srt").read_text(encoding="utf-8")))
    assert [(ms(cue.start), ms(cue.end)) for cue in converted] == AWKWARD_TIMES_MS


def ms(delta) -> int:
    return round(delta.total_seconds() * 1000)


def test_awkward_transcript_gives_well_formed_srt_and_vtt():
    assert check_srt(make_writer(OutputFormat.SRT).render(AWKWARD)) == 4
    assert check_vtt(make_writer(OutputFormat.VTT).render(AWKWARD)) == 4


def test_srt_package_reads_our_srt_back(tmp_path):
    cues = list(srt.parse(write(tmp_path, OutputFormat.SRT).read_text(encoding="utf-8")))
    assert [cue.index for cue in cues] == [1, 2, 3, 4]
    assert [(ms(cue.start), ms(cue.end)) for cue in cues] == AWKWARD_TIMES_MS
    assert [cue.content for cue in cues] == [
        "[A] Grüße -> こんにちは 🎉",
        "Tom & Jerry <i> next",
        "[B & C] an hour in",
        "a hundred hours in",
    ]


def test_webvtt_package_reads_our_vtt_back(tmp_path):
    captions = webvtt.read(str(write(tmp_path, OutputFormat.VTT)), strict=True).captions
    assert [(c.start_time.in_milliseconds(), c.end_time.in_milliseconds()) for c in captions] == AWKWARD_TIMES_MS
    assert [c.voice for c in captions] == ["A", None, "B &amp; C", None]
    assert [c.raw_text for c in captions] == [
        "<v A>Grüße --&gt; こんにちは 🎉",
        "Tom &amp; Jerry &lt;i&gt; next",
        "<v B &amp; C>an hour in",
        "a hundred hours in",
    ]


# --- any text, any times -------------------------------------------------------------------------

NASTY = st.sampled_from(
    ["-->", "- >", "--", ">", "\n\n", "\n", "\r\n", "\r", "\x00", "\x1b", "\x0b", "\x85", "\u2028", "\ufeff",
     "<v", "<v A>", "</v>", "&", "&amp;", "<", " ", "\t", "NOTE", "WEBVTT", "STYLE", "1", "7", "1.2.3", "00:00:01,000",
     "ü", "日本", "🎉", "\ud800"]
)
TEXT = st.lists(st.one_of(st.text(max_size=12), NASTY), max_size=8).map("".join)
TIME = st.floats(min_value=-10.0, max_value=400_000.0, allow_nan=False)


@st.composite
def segments(draw) -> tuple[Segment, ...]:
    result = []
    for index in range(draw(st.integers(0, 5))):
        text = draw(TEXT)
        start, end = draw(TIME), draw(TIME)
        timed = (
            tuple(Word(draw(TIME), draw(TIME), word, 0.5) for word in text.split(" "))
            if draw(st.booleans())
            else ()
        )
        speaker = draw(st.one_of(st.none(), TEXT))
        result.append(Segment(index, start, end, text, words=timed, speaker=speaker))
    return tuple(result)


LAYOUTS = st.builds(
    SubtitleLayout,
    max_line_width=st.one_of(st.none(), st.integers(1, 20)),
    max_line_count=st.one_of(st.none(), st.integers(1, 3)),
    max_words_per_line=st.one_of(st.none(), st.integers(1, 4)),
    highlight_words=st.booleans(),
)


SRT_TIMING = re.compile(r"\d{2,}:\d{2}:\d{2},\d{3} --> \d{2,}:\d{2}:\d{2},\d{3}")
VTT_TIMING = re.compile(r"\d{2,}:\d{2}:\d{2}\.\d{3} --> \d{2,}:\d{2}:\d{2}\.\d{3}")
VTT_MARKUP = re.compile(r"<v [^<>]+>|</?u>|&(?:amp|lt|gt);")


def cue_blocks(body: str, timing: re.Pattern[str]) -> list[list[str]]:
    """The text lines of each cue, checking the shape both formats share: timings, then 1+ clean lines."""
    assert body == "" or body.endswith("\n\n")
    blocks = [block.split("\n") for block in body[:-2].split("\n\n")] if body else []
    for lines in blocks:
        assert timing.fullmatch(lines[0]), lines
        assert len(lines) >= 2, lines
        for line in lines[1:]:
            assert line.strip(), lines  # an empty line would end the cue
            assert "-->" not in line, lines  # would read as the next cue's timings
            assert not any(unicodedata.category(char) in ("Cc", "Cs") for char in line), lines
    return [lines[1:] for lines in blocks]


def check_srt(output: str) -> int:
    """The SubRip shape: number, timings, text lines, blank line; returns the cue count."""
    blocks = [block.split("\n", 1) for block in output[:-2].split("\n\n")] if output else []
    assert [number for number, _ in blocks] == [str(n) for n in range(1, len(blocks) + 1)]
    return len(cue_blocks("".join(rest + "\n\n" for _, rest in blocks), SRT_TIMING))


def check_vtt(output: str) -> int:
    """The WebVTT shape, and that &, < and > appear only as escapes or our <v>, <u> tags."""
    assert output.startswith("WEBVTT\n\n")
    cues = cue_blocks(output[len("WEBVTT\n\n") :], VTT_TIMING)
    for lines in cues:
        bare = VTT_MARKUP.sub("", "\n".join(lines))
        assert not set("<>&") & set(bare), lines
    return len(cues)


def has_text(text: str) -> bool:
    return any(not char.isspace() and unicodedata.category(char) != "Cc" for char in text)


@settings(max_examples=200, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segments(), st.one_of(st.just(SubtitleLayout()), LAYOUTS))
def test_any_text_and_times_give_files_that_parsers_read(segs, layout):
    transcript = Transcript(TranscriptInfo("any.wav", 1.0, settings={"x": float("inf")}), segs)
    srt_text = make_writer(OutputFormat.SRT, layout).render(transcript)
    vtt_text = make_writer(OutputFormat.VTT, layout).render(transcript)
    for output in (srt_text, vtt_text):
        output.encode("utf-8")

    srt_cues = list(srt.parse(srt_text))
    vtt_cues = webvtt.from_string(vtt_text, strict=True).captions
    assert len(srt_cues) == len(vtt_cues) == check_srt(srt_text) == check_vtt(vtt_text)
    if layout == SubtitleLayout():
        assert len(srt_cues) == sum(has_text(segment.text) for segment in segs)
    else:
        assert len(srt_cues) >= sum(has_text(segment.text) for segment in segs)
    assert [cue.index for cue in srt_cues] == list(range(1, len(srt_cues) + 1))
    for srt_cue, vtt_cue in zip(srt_cues, vtt_cues):
        assert srt_cue.content.strip() and vtt_cue.raw_text.strip()
        assert ms(srt_cue.start) == vtt_cue.start_time.in_milliseconds() >= 0
        assert ms(srt_cue.end) == vtt_cue.end_time.in_milliseconds() >= ms(srt_cue.start)

    document = json.loads(make_writer(OutputFormat.JSON, layout).render(transcript))
    assert len(document["segments"]) == len(segs)
    jsonl = make_writer(OutputFormat.JSONL, layout).render(transcript)
    assert [json.loads(line)["id"] for line in jsonl.splitlines()] == [segment.id for segment in segs]
    for fmt in (OutputFormat.TXT, OutputFormat.TSV):
        make_writer(fmt, layout).render(transcript).encode("utf-8")
