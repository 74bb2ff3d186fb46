"""Operations: liveness with the outbox backlog, and Prometheus-style metrics."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from services.dynamic_password.routes.common import CoreDep

router = APIRouter(tags=["operations"])


@dataclass(frozen=True)
class Health:
    status: str
    outbox_pending: int


@router.get("/health", responses={503: {"description": "A background task has stopped."}})
async def health(request: Request, core: CoreDep) -> Response:
    """ok while the outbox relay and the event ingest run; 503 once either has stopped."""
    running = all(not task.done() for task in request.app.state.background_tasks)
    body = Health("ok" if running else "degraded", core.outbox.pending())
    return JSONResponse(body.__dict__, status_code=200 if running else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(core: CoreDep) -> str:
    """Counters in the Prometheus text format."""
    return core.metrics.render(core.outbox.pending())
