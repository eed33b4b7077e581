"""The FastAPI app: services made once and handed to the routes, one error shape, in-flight tracking."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from .config import ServeConfig
from .errors import ApiError, Cancelled, ShuttingDown, error_body
from .fields import FormRules
from .log import ServerLog
from .pool import ModelPool
from .scheduler import Scheduler

if TYPE_CHECKING:  # pragma: no cover
    from .packer import Packer

UNTRACKED_PATHS = ("/health",)  # answered while draining, and never waited for


@dataclass
class Services:
    """Everything a route needs, made once per server run (no module-level state)."""

    config: ServeConfig
    pool: ModelPool
    scheduler: Scheduler
    rules: FormRules
    upload_dir: Path  # private (0700), removed at shutdown
    log: ServerLog
    packer: Optional["Packer"] = None  # None: --no-pack, every request is read alone
    in_flight: int = 0
    idle: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        self.scheduler.close()
        self.pool.close()
        shutil.rmtree(self.upload_dir, ignore_errors=True)


def create_app(services: Services) -> FastAPI:
    from .routes import router

    app = FastAPI(title="whisper-cli", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    app.include_router(router)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(Cancelled, _cancelled)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(InFlight, services=services)
    services.idle.set()
    return app


async def _api_error(request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers())


async def _cancelled(request: Request, error: Cancelled) -> Response:
    # Nobody is left to read it; 499 (nginx's "client closed request") marks it in the access log.
    request.state.outcome = getattr(request.state, "outcome", None) or "cancelled"
    return Response(status_code=499)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    kind = "invalid_request_error" if error.status_code < 500 else "server_error"
    body = error_body(f"{request.method} {request.url.path}: {error.detail}", kind, code=str(error.status_code))
    return JSONResponse(body, status_code=error.status_code, headers=getattr(error, "headers", None))


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    first = error.errors()[0] if error.errors() else {}
    param = ".".join(str(part) for part in first.get("loc", ())[1:]) or None
    return JSONResponse(error_body(f"{param}: {first.get('msg', 'invalid')}", "invalid_request_error", param), status_code=400)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # A bug: Starlette raises it again after this answer, and uvicorn logs its traceback on the server's
    # stderr; the client gets no more than this.
    services: Services = request.app.state.services
    services.log.event("error", f"error: {request.method} {request.url.path}: {error!r}", error=repr(error))
    return JSONResponse(error_body("internal server error", "server_error", code="internal_error"), status_code=500)


class InFlight:
    """Pure ASGI middleware: 503 once draining, a count of requests in flight, and one access line each."""

    def __init__(self, app, services: Services):
        self.app = app
        self.services = services

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in UNTRACKED_PATHS:
            await self.app(scope, receive, send)
            return
        services = self.services
        started = time.monotonic()
        status = {"code": 500}

        async def tracking_send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        if services.scheduler.draining:
            response = await _api_error(None, ShuttingDown("the server is shutting down; retry later or elsewhere"))
            await response(scope, receive, tracking_send)
            self._access(scope, status["code"], started)
            return
        self._enter()
        try:
            await self.app(scope, receive, tracking_send)
        finally:
            self._leave()
            self._access(scope, status["code"], started)

    def _enter(self) -> None:
        self.services.in_flight += 1
        self.services.idle.clear()

    def _leave(self) -> None:
        self.services.in_flight -= 1
        if not self.services.in_flight:
            self.services.idle.set()

    def _access(self, scope, status: int, started: float) -> None:
        state = scope.get("state") or {}
        self.services.log.request(
            scope["method"],
            scope["path"],
            status,
            time.monotonic() - started,
            model=state.get("model"),
            audio_s=state.get("audio_s"),
            outcome=state.get("outcome"),
            upload_s=state.get("upload_s"),  # where a request's time went: reading its body, decoding its audio
            decode_audio_s=state.get("decode_audio_s"),
        )
