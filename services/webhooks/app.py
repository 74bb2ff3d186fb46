"""The FastAPI app of the webhooks: thin routes over `WebhookIngest`, one producer per process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from ctrack.settings import WebhookSettings
from schemas.pii import PiiHasher
from services.webhooks import twilio
from services.webhooks.errors import WebhookError
from services.webhooks.ingest import Accepted, Publisher, ReceivedBody, WebhookIngest


def create_app(
    settings: WebhookSettings,
    open_publisher: Callable[[], AbstractContextManager[Publisher]],
    hasher: PiiHasher,
    clock: Callable[[], datetime],
) -> FastAPI:
    """The app; the publisher is opened at start-up, kept for every request, flushed at shutdown.

    Args:
        settings: secrets, limits and the public URL.
        open_publisher: builds the long-lived producer (a context manager).
        hasher: keyed hash of recipient addresses and numbers.
        clock: the current time (UTC, aware); tests pass a fixed one.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with open_publisher() as publisher:
            app.state.ingest = WebhookIngest(publisher, settings, hasher, clock)
            app.state.max_body_bytes = settings.max_body_bytes
            app.state.public_url = settings.public_url
            yield

    app = FastAPI(title="ctrack webhooks", lifespan=lifespan)
    app.add_exception_handler(WebhookError, _webhook_error)  # type: ignore[arg-type]  # handler takes a subclass
    app.post("/webhooks/sendgrid")(sendgrid_webhook)
    app.post("/webhooks/twilio")(twilio_webhook)
    return app


def _ingest(request: Request) -> WebhookIngest:
    ingest: WebhookIngest = request.app.state.ingest
    return ingest


async def _body(request: Request) -> ReceivedBody:
    """The body, read no further than the limit (a huge body is never held in memory)."""
    limit: int = request.app.state.max_body_bytes
    received, size = [], 0
    async for chunk in request.stream():
        received.append(chunk)
        size += len(chunk)
        if size > limit:
            return ReceivedBody(b"".join(received)[:limit], complete=False)
    return ReceivedBody(b"".join(received), complete=True)


def _signed_url(request: Request) -> str:
    public_url: str | None = request.app.state.public_url
    return twilio.callback_url(public_url, str(request.url), request.url.path, request.url.query)


Ingest = Annotated[WebhookIngest, Depends(_ingest)]
Body = Annotated[ReceivedBody, Depends(_body)]
SignedUrl = Annotated[str, Depends(_signed_url)]


def sendgrid_webhook(request: Request, ingest: Ingest, body: Body) -> Accepted:
    """SendGrid Event Webhook: a signed JSON array of events."""
    return ingest.sendgrid(request.headers, body)


def twilio_webhook(request: Request, ingest: Ingest, body: Body, url: SignedUrl) -> Accepted:
    """Twilio SMS status callback: a signed form, our ids in the callback URL's query."""
    return ingest.twilio(url, list(request.query_params.multi_items()), request.headers, body)


def _webhook_error(_request: Request, exc: WebhookError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)
