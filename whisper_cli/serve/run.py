"""One admitted request between the event loop and its decoding thread: results, stream events, cancellation.

The decoding thread posts ("start", info), ("segment", s) ... and finally ("done", None) to an asyncio
queue; the route waits on it, racing the client's disconnect and the request's deadline. Either of those
cancels the work: a queued request never starts, a running one stops at its next segment.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from contextlib import contextmanager
from typing import Any, AsyncIterator, Iterator, Optional

from ..errors import DeviceError, ModelError, UsageError
from ..transcript import Transcript
from .errors import ApiError, Cancelled, DecodeTimeout, ServerError, error_body
from .responses import delta_event, done_event, error_event
from .transcribe import decode_upload, transcribe_upload
from .upload import ClientGone


class Run:
    def __init__(self, services, job, upload, request, deadline: float):
        self.services, self.job, self.upload, self.request, self.deadline = services, job, upload, request, deadline
        self.loop = asyncio.get_running_loop()
        self.events: asyncio.Queue = asyncio.Queue()
        self.cancelled = threading.Event()
        self.future: Optional[concurrent.futures.Future] = None
        self._pending: Optional[tuple[str, Any]] = None

    @property
    def started(self) -> bool:
        """Submitted: from here the decoding thread owns (and deletes) the upload."""
        return self.future is not None

    def start(self) -> None:
        packer = self.services.packer
        if packer is not None and packer.takes(self.job):  # its audio decoded beside the model, then packed
            self.future = self.services.scheduler.submit(self._prepare, audio=True)
        else:
            self.future = self.services.scheduler.submit(self._work)
        self.future.add_done_callback(lambda _: self._post(("done", None)))

    def cancel(self) -> None:
        self.cancelled.set()
        if self.future is not None and self.future.cancel():
            self.upload.delete()  # it never ran, so its finally never will
            name = self.upload.filename
            self.services.log.event("cancelled", f"{name}: cancelled before it started", source=name, segments=0, at_s=0.0)

    async def result(self) -> Transcript:
        """The finished transcript; raises the request's ApiError, or Cancelled if the client left."""
        staged = await self._race(_settled(self.future))
        if isinstance(staged, concurrent.futures.Future):  # packed: its group reads it
            await self._race(_settled(staged))
        return self._outcome()

    async def first_event(self) -> None:
        """Wait until the audio is decoded and the language known, so that a bad file still gets a 400."""
        self._pending = await self._race(self.events.get())
        if self._pending[0] == "done":
            self._outcome()  # raises what went wrong: a successful run posts "start" first

    async def stream_events(self) -> AsyncIterator[str]:
        """OpenAI's transcription stream: a text delta per segment as it is decoded, then the whole text."""
        finished = False
        try:
            kind, value = self._pending or await self.events.get()
            first = True
            while kind != "done":
                if kind == "start":
                    self.request.state.audio_s = round(value.duration, 3)
                elif kind == "segment":
                    yield delta_event(value.text.lstrip() if first else value.text)
                    first = False
                kind, value = await asyncio.wait_for(self.events.get(), timeout=self._remaining())
            transcript = self._outcome()
            finished = True
            yield done_event(transcript.text)
        except asyncio.TimeoutError:
            yield error_event(_timeout().body())
        except ApiError as error:
            yield error_event(error.body())
        except Cancelled:
            pass
        except Exception as error:  # noqa: BLE001 - a bug: logged with its traceback, never sent
            self.services.log.event("error", f"error: stream: {error!r}", error=repr(error))
            import traceback

            traceback.print_exception(error)
            yield error_event(error_body("internal server error", "server_error", code="internal_error"))
        finally:
            if not finished:
                self.cancel()

    def _prepare(self) -> concurrent.futures.Future:
        """On an audio thread: decode the upload, then the future of its transcript, packed with others
        (packer.py) when short enough, else read alone on a decoding thread."""
        with self._logged_cancel():
            started = time.monotonic()
            try:
                audio = decode_upload(self.upload.path, self.upload.filename)
            finally:
                self.upload.delete()
            self.request.state.decode_audio_s = round(time.monotonic() - started, 3)
            if self.cancelled.is_set():
                raise Cancelled("cancelled before it started")
            packer = self.services.packer
            if packer.fits(audio):
                return packer.add(self.job.model, self.job.options, self.upload.filename, audio, self.cancelled)
            scheduler = self.services.scheduler
            scheduler.hold()
            try:
                staged = scheduler.execute(lambda: self._work(audio))
            except BaseException:
                scheduler.release()
                raise
            staged.add_done_callback(lambda _: scheduler.release())
            return staged

    def _work(self, audio=None) -> Transcript:
        """On a decoding thread: the transcript of the upload (or of its decoded samples), read alone."""
        with self._logged_cancel():
            try:
                with self.services.pool.lease(self.job.model) as whisper:
                    return transcribe_upload(
                        whisper,
                        self.upload.path if audio is None else audio,
                        self.job.options,
                        filename=self.upload.filename,
                        cancelled=self.cancelled,
                        on_start=lambda info: self._post(("start", info)),
                        on_segment=lambda segment: self._post(("segment", segment)),
                    )
            finally:
                self.upload.delete()

    @contextmanager
    def _logged_cancel(self) -> Iterator[None]:
        try:
            yield
        except Cancelled as stopped:
            name = self.upload.filename
            self.services.log.event(
                "cancelled", f"{name}: {stopped}", source=name, segments=stopped.segments, at_s=round(stopped.at_s, 3)
            )
            raise

    def _post(self, event: tuple[str, Any]) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    async def _race(self, awaitable):
        """`awaitable`'s result, unless the client disconnects or the deadline passes first (then cancel)."""
        waiter = asyncio.ensure_future(awaitable)
        gone = asyncio.ensure_future(_disconnected(self.request))
        try:
            done, _ = await asyncio.wait({waiter, gone}, timeout=self._remaining(), return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if waiter in done:
            return waiter.result()
        waiter.cancel()
        self.cancel()
        if gone in done:
            self.request.state.outcome = "client gone"
            raise ClientGone("the client disconnected before its transcript was ready")
        raise _timeout()

    def _outcome(self) -> Transcript:
        """The worker's result, its expected failures as the client should see them."""
        try:
            transcript = self.future.result()
            if isinstance(transcript, concurrent.futures.Future):
                transcript = transcript.result()
        except concurrent.futures.CancelledError:
            raise Cancelled("cancelled before it started") from None
        except UsageError as error:  # options the loaded model cannot honour
            raise self.services.rules.bad_request(error, self.upload.fields) from None
        except (ModelError, DeviceError) as error:
            raise ServerError(f"model {self.job.model}: {error.cause}", param="model", code="model_unavailable") from None
        self.request.state.audio_s = round(transcript.info.duration, 3)
        return transcript

    def _remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)


async def _settled(future: concurrent.futures.Future) -> Any:
    """The future's result once done, or None if it failed: _outcome() turns that into the client's answer."""
    try:
        return await asyncio.wrap_future(future)
    except Exception:
        return None


async def _disconnected(request) -> None:
    """Returns when the client closes the connection (the body has been read, so only that can come)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _timeout() -> DecodeTimeout:
    return DecodeTimeout("the transcript was not ready within --request-timeout-s; the work was stopped")
