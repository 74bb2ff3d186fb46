"""What the routes share: the service core, bounded bodies, error answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.dynamic_password.core import Core
from services.dynamic_password.csv_import import InvalidFile
from services.dynamic_password.errors import DynamicPasswordError, InvalidInput

_PAYLOAD_TOO_LARGE = 413


async def _core(request: Request) -> Core:
    """`async`, like every dependency here: FastAPI runs a plain `def` in a worker thread."""
    core: Core = request.app.state.core
    return core


CoreDep = Annotated[Core, Depends(_core)]


class PayloadTooLarge(DynamicPasswordError):
    status_code = _PAYLOAD_TOO_LARGE


async def limited_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it goes past `limit` bytes: never held whole."""
    received, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        received.append(chunk)
    return b"".join(received)


def service_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, InvalidFile):
        exc = InvalidInput(str(exc))
    assert isinstance(exc, DynamicPasswordError)  # noqa: S101 - registered for these only
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=exc.headers)


def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, without the rejected input: it may be a code, a password or an address."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for these only
    errors: list[dict[str, Any]] = [
        {"loc": error.get("loc"), "msg": error.get("msg"), "type": error.get("type")}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)
