"""The FastAPI app of the dynamic password service and its background tasks.

At start-up: the SQLite store, the outbox relay (producer) and the event ingest (consumer);
at shutdown they stop, the relay handing over what it can. Requests, the relay and the ingest
all run on the event loop's one thread, the only user of the database connection.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from ctrack.settings import AuthSettings
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from services.dynamic_password.clock import Clock
from services.dynamic_password.core import Core, Secrets
from services.dynamic_password.csv_import import InvalidFile
from services.dynamic_password.errors import DynamicPasswordError
from services.dynamic_password.ingest import EventIngest
from services.dynamic_password.metrics import Metrics
from services.dynamic_password.outbox import OutboxRelay, OutboxWriter, relay_producer
from services.dynamic_password.routes import client, firm, ops, returns
from services.dynamic_password.routes.common import service_error, validation_error
from services.dynamic_password.store import Store
from services.tracking_api.auth import KeyRing

log = structlog.get_logger(__name__)
DATABASE_FILE = "dynamic-password.sqlite3"
GC_YOUNG_THRESHOLD = 10_000  # allocations between young-generation collections (default 700)


@dataclass(frozen=True)
class Wiring:
    """What the app is built from (see bootstrap.build_app)."""

    auth: AuthSettings
    bootstrap: str
    names: TopicNames
    key_ring: KeyRing
    secrets: Secrets
    codec: AvroCodec
    clock: Clock


def create_app(wiring: Wiring) -> FastAPI:
    """The app (OpenAPI at /docs): firm side under /v1, client side under /client."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(wiring.auth.data_dir / DATABASE_FILE)
        metrics = Metrics()
        outbox = OutboxWriter(store, wiring.codec, wiring.names)
        relay = OutboxRelay(store, outbox, wiring.names, relay_producer(wiring.bootstrap), metrics)
        core = Core(store, outbox, wiring.clock, wiring.secrets, wiring.auth, metrics)
        ingest = EventIngest(core, wiring.bootstrap, wiring.names, wiring.codec)
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(relay.run(stop), name="outbox-relay"),
            asyncio.create_task(ingest.run(stop), name="event-ingest"),
        ]
        for task in tasks:
            task.add_done_callback(_report_stopped)
        app.state.core, app.state.background_tasks = core, tasks
        _calm_garbage_collection()
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            store.close()
            del app.state.core  # and with it the relay's producer

    app = FastAPI(
        title="ctrack dynamic password",
        description="Firm side (`/v1`, `Authorization: Bearer <firm API key>`): add and import "
        "clients, get requests, dynamic password invites, reminders, unlocks (logins and "
        "returns), identity confirmation, messages, settings. Client side (`/client`, no "
        "key): open an emailed link, verify the SMS one-time password or SSN last 4 digits, "
        "ask for a new login link, set a password and log in with it.",
        version="1",
        lifespan=lifespan,
    )
    app.state.key_ring = wiring.key_ring
    app.add_exception_handler(DynamicPasswordError, service_error)
    app.add_exception_handler(InvalidFile, service_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    for module in (firm, returns, client, ops):
        app.include_router(module.router)
    app.add_middleware(CountResponses)
    return app


def _calm_garbage_collection() -> None:
    """Full collections of everything loaded at start (FastAPI, pydantic, fastavro...) paused
    the loop for tens of ms: those objects are frozen out of collections, and young objects
    are collected less often (a request allocates hundreds; they are freed by refcount)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _report_stopped(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("background_task_failed", task=task.get_name(), error=repr(error))


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class CountResponses:
    """ASGI middleware: holds each answer until the decisions taken so far are committed
    (group commit, see commits.py), and counts responses per route and status (/metrics)."""

    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        core = getattr(scope["app"].state, "core", None)

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if core is not None:
                    await core.store.durable()  # no answer before its decision is committed
            await send(message)

        try:
            await self.app(scope, receive, counted)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            if core is not None:
                core.metrics.responses[(route, status)] += 1
