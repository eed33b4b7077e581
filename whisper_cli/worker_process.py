"""One model replica in a process of its own (--workers N): what workers.py starts with multiprocessing's spawn.

It loads its model when the first input has decoded, then takes inputs one at a time over its pipe,
reads each into its outputs with pipeline.transcribe_file, and sends back the pipeline's FileResult. A
short clip it may pack is held instead (it answers "more"), until its group is full or the driver says
"flush": then the group is read in shared windows (pipeline.transcribe_group), a result per clip.

Ctrl-C is the driver's to handle (it stops the workers), so SIGINT is ignored here; SIGTERM aborts the
input in progress, whose temp files are removed, and ends the process.

    driver -> worker   ("file", key, FileTask, may_pack) | ("flush",) | ("stop",)
    worker -> driver   ("loaded", model, device, fallback) | ("more", key) | ("result", key, FileResult)
                       ("note", key, text) | ("language", key, language, probability) | ("warn", key, text)
                       ("error", type, subject, cause) | ("bug", traceback)
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from dataclasses import dataclass, replace
from typing import Any, Optional

from .errors import InputError, WhisperCliError
from .run_config import ModelSettings


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process is started with (plain data that spawn sends to the new process)."""

    model: ModelSettings
    visible_devices: Optional[str] = None  # CUDA_VISIBLE_DEVICES for a worker of its own GPU (--device-index)
    pack_batch: Optional[int] = None  # packed windows decoded at once
    diarize: bool = False  # the model wrapped with the diarizer (--diarize)
    driver_pid: int = 0  # the run's process, whose death ends this one


def serve(spec: WorkerSpec, connection) -> None:
    """The worker process's main: serve the driver until it says stop, or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    if not _ends_with(spec.driver_pid):
        return
    if spec.visible_devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = spec.visible_devices  # before CTranslate2 is imported
    try:
        Worker(spec, connection).serve()
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        pass  # stopped by the driver, or the driver is gone
    except WhisperCliError as error:  # stops the run, as it would in one process (a model that cannot load ...)
        _send(connection, ("error", type(error), error.subject, error.cause))
    except BaseException:  # noqa: BLE001 - a genuine bug: the driver raises it with this traceback
        _send(connection, ("bug", traceback.format_exc()))


def rebuild_error(kind: type, subject: str, cause: str) -> WhisperCliError:
    """The WhisperCliError a worker sent, as raised there (its own __init__ differs by class, so not called)."""
    error = kind.__new__(kind)
    Exception.__init__(error, f"{subject}: {cause}")
    error.subject, error.cause = subject, cause
    return error


class Worker:
    """The replica: `connection` is what it sends to (a Pipe here; a list a Ray actor returns, ray_executor.py)."""

    def __init__(self, spec: WorkerSpec, connection):
        self._spec, self._connection = spec, connection
        self._whisper = None
        self._held: list[tuple[Any, Any, Any, float, float]] = []  # key, task, audio, decode_s, when it came
        self._held_s = 0.0

    def serve(self) -> None:
        while True:
            message = self._connection.recv()
            if message[0] == "stop":
                return
            self.handle(message)

    def handle(self, message: tuple) -> None:
        """One ("file", ...) or ("flush",) message: its answers are sent before it returns."""
        if message[0] == "flush":
            self._flush()
        else:
            _, key, task, may_pack = message
            self._take(key, task, may_pack)

    def _take(self, key, task, may_pack: bool) -> None:
        from .audio import SAMPLE_RATE
        from .local_executor import PACK_GROUP_CLIPS, PACK_GROUP_S, fits_audio
        from .pipeline import decode_input, failed, transcribe_file

        came = time.monotonic()
        try:
            audio = decode_input(task.source, task.decode.split_stereo, task.raw, lambda text: self._send(("warn", key, text)))
        except InputError as error:
            decode_s = time.monotonic() - came
            self._send(("result", key, replace(failed(task.name, error), decode_s=decode_s, wall_s=decode_s)))
            return
        decode_s = time.monotonic() - came
        if may_pack and fits_audio(audio):
            self._held.append((key, task, audio, decode_s, came))
            self._held_s += len(audio) / SAMPLE_RATE
            if len(self._held) >= PACK_GROUP_CLIPS or self._held_s >= PACK_GROUP_S:
                self._flush()
            else:
                self._send(("more", key))
            return
        events = _PipeEvents(self._send, key)
        result = transcribe_file(self._model(), audio, task.destination, task.decode, source=task.name, events=events)
        self._send(("result", key, replace(result, decode_s=decode_s, wall_s=time.monotonic() - came)))

    def _flush(self) -> None:
        from .pipeline import Clip, transcribe_group

        held, self._held, self._held_s = self._held, [], 0.0
        if not held:
            return
        decode = held[0][1].decode
        clips = [Clip(task.name, audio, task.destination, _PipeEvents(self._send, key)) for key, task, audio, _, _ in held]
        for (key, _, _, decode_s, _), result in zip(held, transcribe_group(self._model(), clips, decode, batch_size=self._spec.pack_batch)):
            self._send(("result", key, replace(result, decode_s=decode_s, wall_s=decode_s + result.transcribe_s)))

    def _model(self):
        if self._whisper is None:
            from .lazy_model import open_model

            whisper = open_model(self._spec.model, diarize=self._spec.diarize)
            self._send(("loaded", whisper.resolved.name, whisper.choice.description, whisper.choice.fallback_reason))
            self._whisper = whisper
        return self._whisper

    def _send(self, message) -> None:
        self._connection.send(message)


class _PipeEvents:
    """A job's FileEvents, sent to the driver: the language and the engine's notes (not every segment's end)."""

    def __init__(self, send, key):
        self._send, self._key = send, key

    def language(self, language: Optional[str], probability: Optional[float]) -> None:
        self._send(("language", self._key, language, probability))

    def transcribing(self, duration_s: float) -> None:
        pass

    def advance(self, seconds: float) -> None:
        pass

    def note(self, message: str) -> None:
        self._send(("note", self._key, message))


def _send(connection, message) -> None:
    try:
        connection.send(message)
    except (OSError, EOFError):
        pass  # the driver is gone


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt


def _ends_with(driver_pid: int) -> bool:
    """Have the kernel send SIGTERM here when the driver dies (even by kill -9): its claims die with it, so a
    worker left running would write without one. False if the driver is already gone."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass  # elsewhere: a worker notices at its next input that the driver's pipe is closed
    return not driver_pid or os.getppid() == driver_pid
