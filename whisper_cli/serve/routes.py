"""The endpoints: OpenAI's audio API (transcriptions, translations, models) and /health."""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from .errors import ModelNotFound, Unauthorized
from .fields import parse_job
from .responses import render
from .run import Run
from .upload import Limits, read_upload

if TYPE_CHECKING:  # the app imports this module to mount its routes
    from .app import Services

OWNER = "whisper-cli"


def services_of(request: Request) -> "Services":
    return request.app.state.services


def require_key(request: Request) -> None:
    """OpenAI's bearer key, compared in constant time; no check when the server has no key."""
    key = services_of(request).config.api_key
    if not key:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("missing API key: send the header `Authorization: Bearer <key>`")
    if not hmac.compare_digest(given.strip().encode(), key.encode()):
        raise Unauthorized("incorrect API key")


router = APIRouter()
v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_key)])


@router.get("/health")
def health(request: Request) -> JSONResponse:
    """No key needed: a load balancer or a script waits for 200 here; 503 once shutting down."""
    services = services_of(request)
    scheduler = services.scheduler
    body = {
        "status": "shutting_down" if scheduler.draining else "ok",
        "models": [{"id": name, "loaded": services.pool.loaded(name)} for name in services.pool.names],
        "workers": scheduler.workers,
        "decoding": scheduler.running,
        "queued": max(0, scheduler.admitted - scheduler.running),
    }
    if services.packer is not None:  # how many windows the packed requests took
        body["packed"] = {"requests": services.packer.requests, "windows": services.packer.windows}
    return JSONResponse(body, status_code=503 if scheduler.draining else 200)


@v1.get("/models")
def list_models(request: Request) -> dict:
    return {"object": "list", "data": [_model(name) for name in services_of(request).config.models]}


@v1.get("/models/{model_id:path}")
def get_model(model_id: str, request: Request) -> dict:
    if model_id not in services_of(request).config.models:
        raise ModelNotFound(f"model {model_id!r} is not served here", param="model")
    return _model(model_id)


@v1.post("/audio/transcriptions")
async def transcriptions(request: Request) -> Response:
    return await _transcribe(request, task="transcribe")


@v1.post("/audio/translations")
async def translations(request: Request) -> Response:
    return await _transcribe(request, task="translate")


router.include_router(v1)


def _model(name: str) -> dict:
    return {"id": name, "object": "model", "created": 0, "owned_by": OWNER}


async def _transcribe(request: Request, *, task: str) -> Response:
    services = services_of(request)
    config = services.config
    started = time.monotonic()
    deadline = started + config.request_timeout_s
    services.scheduler.check_open()  # refuse at once, before reading an upload that could not be queued
    upload = await read_upload(
        request.headers, request.stream(), services.upload_dir, Limits(config.max_upload_bytes, deadline)
    )
    request.state.upload_s = round(time.monotonic() - started, 3)
    run = None
    try:
        job = parse_job(upload.fields, services.rules, config.models, task=task)
        request.state.model = job.model
        run = Run(services, job, upload, request, deadline)
        run.start()
        if job.stream:
            await run.first_event()
            return StreamingResponse(run.stream_events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        transcript = await run.result()
        body, media_type = render(transcript, job.response_format, task=task, words=job.words, layout=job.layout)
        return Response(body, media_type=media_type)
    finally:
        if run is None or not run.started:
            upload.delete()  # else the decoding thread deletes it once the audio is decoded
