"""The errors a client can see, each with its HTTP status and OpenAI's error shape."""

from __future__ import annotations

from typing import Any, Optional


class ApiError(Exception):
    """An expected failure of one request: answered as {"error": {message, type, param, code}}."""

    status: int = 400
    type: str = "invalid_request_error"
    code: Optional[str] = None

    def __init__(self, message: str, param: Optional[str] = None, code: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401
    code = "invalid_api_key"


class ModelNotFound(ApiError):
    status = 404
    code = "model_not_found"


class RequestTimeout(ApiError):
    status = 408
    type = "timeout_error"
    code = "request_timeout"


class PayloadTooLarge(ApiError):
    status = 413
    code = "file_too_large"


class QueueFull(ApiError):
    status = 429
    type = "rate_limit_error"
    code = "queue_full"

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class ServerError(ApiError):
    status = 500
    type = "server_error"
    code = "internal_error"


class ShuttingDown(ApiError):
    status = 503
    type = "server_error"
    code = "shutting_down"

    def headers(self) -> dict[str, str]:
        return {"Connection": "close"}


class DecodeTimeout(ApiError):
    status = 504
    type = "timeout_error"
    code = "request_timeout"


class Cancelled(Exception):
    """The client went away or the request ran out of time: the worker stops at the next segment."""

    def __init__(self, message: str, segments: int = 0, at_s: float = 0.0):
        super().__init__(message)
        self.segments = segments  # decoded before it stopped
        self.at_s = at_s  # seconds of audio transcribed by then


def error_body(message: str, type: str, param: Optional[str] = None, code: Optional[str] = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}
