"""Errors of the webhook ingest: each rejection carries the HTTP status the provider is told."""

from __future__ import annotations


class WebhookError(Exception):
    """Root of every error in `services.webhooks`."""

    status_code = 500


class RejectedRequest(WebhookError):
    """Bad input: answered with a 4xx and kept on the dead-letter topic."""

    status_code = 400


class Unsigned(RejectedRequest):
    """The request carries no signature (or no timestamp) headers."""

    status_code = 401


class BadSignature(RejectedRequest):
    """The signature does not verify against the configured key or token."""

    status_code = 403


class StaleTimestamp(RejectedRequest):
    """The signed timestamp is outside the tolerance (a replay, or a badly wrong clock)."""

    status_code = 403


class MalformedPayload(RejectedRequest):
    """The body is not valid JSON / form data, has the wrong shape, or lacks our ids."""

    status_code = 400


class PayloadTooLarge(RejectedRequest):
    """The body is over the configured limit; it was not read past the limit."""

    status_code = 413


class NotConfigured(WebhookError):
    """The endpoint's key or token is not configured; the provider should retry later."""

    status_code = 503


class PublishFailed(WebhookError):
    """Kafka did not acknowledge the records; the provider should retry (ids are stable)."""

    status_code = 503
