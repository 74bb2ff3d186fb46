"""Firm side of delivered returns (`/v1/returns`, per-firm API key): access locks and unlock.

A key sees only its firm's returns: any other id gets the same 404 as an unknown one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from services.dynamic_password import return_actions
from services.dynamic_password.api_models import ID_PATTERN, MAX_ID_LENGTH, ReturnUnlockBody
from services.dynamic_password.return_actions import ReturnAccess
from services.dynamic_password.routes.common import CoreDep
from services.dynamic_password.routes.firm import FirmId, FirmUser

router = APIRouter(prefix="/v1/returns", tags=["firm"])
ReturnIdPath = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, description="Return.")
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such return here."}}


@router.get("/{return_id}", responses=_NOT_FOUND)
async def get_return(return_id: ReturnIdPath, firm_id: FirmId, core: CoreDep) -> ReturnAccess:
    """A delivered return's recipients: consecutive authentication failures and lock."""
    return return_actions.return_access(core, firm_id, return_id)


@router.post("/{return_id}/unlock", responses=_NOT_FOUND)
async def unlock_return(
    return_id: ReturnIdPath,
    firm_id: FirmId,
    user: FirmUser,
    core: CoreDep,
    body: ReturnUnlockBody | None = None,
) -> ReturnAccess:
    """Unlock a locked recipient (or, without a body, every locked recipient): Access Unlocked
    on the return's Client Tracking, and the failure count starts again from 0. 409 when
    nothing is locked."""
    role = body.recipient_role if body else None
    return return_actions.unlock_return(core, firm_id, user, return_id, role)
