"""What the HTTP providers share: one POST, its failures sorted into retriable or not."""

from __future__ import annotations

from typing import Any

import httpx

from schemas.pii import redact
from services.notifications.errors import ProviderError

REASON_MAX_CHARS = 300


def post(client: httpx.Client, provider: str, path: str, **request: Any) -> httpx.Response:
    """POST `path`; a ProviderError when no answer came (retriable only if nothing was sent)."""
    try:
        return client.post(path, **request)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise ProviderError(f"{provider} not reachable", retriable=True) from exc
    except httpx.HTTPError as exc:
        # the request may have reached the provider: do not try again (at most once)
        raise ProviderError(f"{provider} call failed: {type(exc).__name__}") from exc


def refused(provider: str, response: httpx.Response, detail: str | None) -> ProviderError:
    """The error for a non-success answer: 429 is retriable (throttled, nothing taken).

    A 5xx is not: the provider may have taken the message before failing.
    """
    text = f"{provider} refused the message: HTTP {response.status_code}"
    if detail:
        text += f": {detail[:REASON_MAX_CHARS]}"
    return ProviderError(
        redact(text.encode()).decode(errors="replace"),
        retriable=response.status_code == httpx.codes.TOO_MANY_REQUESTS,
        code=str(response.status_code),
    )


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or {} if it has none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
