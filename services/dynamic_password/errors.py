"""Errors of the dynamic password service; each knows its HTTP status and a safe message."""

from __future__ import annotations

from datetime import timedelta

# One answer for an unknown link, a wrong code, an expired or superseded link and a locked
# login, so the answer reveals nothing about which it was.
NOT_ACCEPTED = (
    "This link or code cannot be used. Links expire, only the newest link and code work, and "
    "too many wrong codes lock the login for a while. Ask for a new login link if needed."
)


class DynamicPasswordError(Exception):
    """Root of the service's errors."""

    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str] | None:
        return None


class ClientNotFound(DynamicPasswordError):
    """No such client in the caller's firm (the same answer whether it exists elsewhere)."""

    status_code = 404

    def __init__(self) -> None:
        super().__init__("client not found")


class ReturnNotFound(DynamicPasswordError):
    """No such return in the caller's firm (the same answer whether it exists elsewhere)."""

    status_code = 404

    def __init__(self) -> None:
        super().__init__("return not found")


class Refused(DynamicPasswordError):
    """The action is not allowed in the client's current state; the message says why."""

    status_code = 409


class InvalidInput(DynamicPasswordError):
    status_code = 422


class NotAccepted(DynamicPasswordError):
    """A client-side attempt that failed, for whatever reason (see NOT_ACCEPTED)."""

    status_code = 401

    def __init__(self) -> None:
        super().__init__(NOT_ACCEPTED)


class SessionRequired(DynamicPasswordError):
    status_code = 401

    def __init__(self) -> None:
        super().__init__("a valid session is required: verify your identity through your link")

    @property
    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": "Bearer"}


class TooManyCodes(DynamicPasswordError):
    status_code = 429

    def __init__(self, retry_after: timedelta):
        seconds = max(1, int(retry_after.total_seconds() + 0.999))
        super().__init__(f"too many codes were sent; try again in {seconds} seconds")
        self.retry_after_s = seconds

    @property
    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after_s)}
