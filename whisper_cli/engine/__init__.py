"""The only package that imports faster_whisper or ctranslate2. Imports nothing heavy itself.

    model.py       resolve + device + load -> Whisper (get_whisper)
    transcribe.py  samples (+ time offset, + prompt text) -> lazy Segments; sequential and batched
    windows.py     prepared 30 s log-mel windows -> decoded text, with temperature fallback
    packed.py      short clips in shared windows (packing.py's layout, decoded by windows.py)
    language.py    language detection on a clip's own frames;  features.py  windowed log-mel, WINDOW_FRAMES
    vad.py         speech spans (Silero, as faster-whisper ships it)
"""

from importlib import import_module

# Public name -> submodule; each is imported on first use, so that `transcribe --help` loads no numpy.
_EXPORTS = {
    "Whisper": "model",
    "get_whisper": "model",
    "TranscriptStream": "transcribe",
    "transcript_info": "transcribe",
    "ClipResult": "packed",
    "transcribe_packed": "packed",
    "MelWindow": "windows",
    "WindowDecoder": "windows",
    "WindowResult": "windows",
    "LanguageGuess": "language",
    "detect_language": "language",
    "detect_languages": "language",
    "WINDOW_FRAMES": "features",
    "speech_spans": "vad",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
