"""Composition root of the webhooks service: settings from the environment, wired into the app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from ctrack.settings import KafkaSettings, PrivacySettings, SchemaRegistrySettings, WebhookSettings
from producers.event_producer import EventProducer
from schemas.codec import build_codec
from schemas.pii import PiiHasher
from services.webhooks.app import create_app


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_app(
    webhooks: WebhookSettings | None = None,
    kafka: KafkaSettings | None = None,
    privacy: PrivacySettings | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    """The webhooks app; each setting defaults to the environment's, tests pass their own."""
    kafka = kafka or KafkaSettings()
    registry = SchemaRegistrySettings()
    auth = registry.basic_auth.get_secret_value() if registry.basic_auth else None
    codec = build_codec(registry.url, auth)
    hasher = PiiHasher((privacy or PrivacySettings()).hash_key())
    return create_app(
        webhooks or WebhookSettings(), lambda: EventProducer(kafka, codec), hasher, clock
    )
