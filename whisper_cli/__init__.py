"""whisper-cli: fast, offline-first speech to text on faster-whisper. Imports nothing heavy."""

__version__ = "0.1.0"


def __getattr__(name):
    # get_whisper and probe pull in faster-whisper/ctranslate2, so they load on first use.
    if name == "get_whisper":
        from .engine import get_whisper

        return get_whisper
    if name == "probe":
        from .engine.device import probe

        return probe
    raise AttributeError(f"module 'whisper_cli' has no attribute {name!r}")


__all__ = ["__version__", "get_whisper", "probe"]
