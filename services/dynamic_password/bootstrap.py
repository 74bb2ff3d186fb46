"""Composition root of the dynamic password service: settings from the environment, wired."""

from __future__ import annotations

from fastapi import FastAPI

from ctrack.settings import (
    AuthSettings,
    KafkaSettings,
    PrivacySettings,
    QueryApiSettings,
    SchemaRegistrySettings,
)
from schemas.catalogue import TopicNames
from schemas.codec import build_codec
from services.dynamic_password.app import Wiring, create_app
from services.dynamic_password.clock import Clock, utc_now
from services.dynamic_password.core import Secrets
from services.tracking_api.auth import KeyRing


def build_app(
    auth: AuthSettings | None = None,
    kafka: KafkaSettings | None = None,
    api: QueryApiSettings | None = None,
    privacy: PrivacySettings | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """The app; each setting defaults to the environment's, tests pass their own (and a clock).

    Firms use the query API's keys (CTRACK_API_KEYS): one key per firm.
    """
    auth = auth or AuthSettings()
    kafka = kafka or KafkaSettings()
    registry = SchemaRegistrySettings()
    basic_auth = registry.basic_auth.get_secret_value() if registry.basic_auth else None
    wiring = Wiring(
        auth=auth,
        bootstrap=kafka.bootstrap,
        names=TopicNames(kafka.topic_prefix),
        key_ring=KeyRing.of((api or QueryApiSettings()).firm_keys()),
        secrets=Secrets.of(auth, (privacy or PrivacySettings()).hash_key()),
        codec=build_codec(registry.url, basic_auth),
        clock=clock,
    )
    return create_app(wiring)
