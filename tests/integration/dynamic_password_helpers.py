"""Running the dynamic password service in tests: real broker, own data dir, injected clock."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from ctrack.settings import AuthSettings, KafkaSettings, PrivacySettings, QueryApiSettings
from schemas.catalogue import NOTIFICATIONS, TopicNames, TopicSpec
from services.credentials import LinkTokens, OneTimeCodes, otp_counter
from services.dynamic_password.bootstrap import build_app
from services.dynamic_password.clock import ManualClock
from tests.integration.stream_helpers import CODEC

T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
MASTER = "integration-test-auth-master-secret-0123456789"
PII_KEY = "integration-test-pii-key-0123456789"
FIRM_A, FIRM_B = "F-alpha", "F-beta"
KEYS = {FIRM_A: "alpha-key-0123456789abcdef", FIRM_B: "beta-key-0123456789abcdef"}
TOKENS = LinkTokens(MASTER.encode())
CODES = OneTimeCodes(MASTER.encode())

R = TypeVar("R")


def firm(firm_id: str, user: str | None = "u.tester") -> dict[str, str]:
    """Headers of a firm's request."""
    headers = {"Authorization": f"Bearer {KEYS[firm_id]}"}
    return headers | ({"X-Firm-User": user} if user else {})


def service_app(kafka: KafkaSettings, data_dir: Path, clock: ManualClock) -> FastAPI:
    """The service on this test's topics, with its own database and the test's clock."""
    auth = AuthSettings(secret_key=SecretStr(MASTER), data_dir=data_dir)
    api = QueryApiSettings(keys=SecretStr(",".join(f"{f}:{k}" for f, k in KEYS.items())))
    privacy = PrivacySettings(pii_hash_key=SecretStr(PII_KEY))
    return build_app(auth=auth, kafka=kafka, api=api, privacy=privacy, clock=clock)


@dataclass
class Service:
    """A started service: its HTTP client, clock and topics."""

    http: TestClient
    clock: ManualClock
    kafka: KafkaSettings

    def add_client(self, firm_id: str = FIRM_A, **body: Any) -> str:
        body = {"email": "jane.doe@example.com", "phone": "+1 555 010 1234"} | body
        response = self.http.post("/v1/clients", json=body, headers=firm(firm_id))
        assert response.status_code == 201, response.text
        return str(response.json()["client_id"])

    def client(self, client_id: str, firm_id: str = FIRM_A) -> dict[str, Any]:
        response = self.http.get(f"/v1/clients/{client_id}", headers=firm(firm_id))
        assert response.status_code == 200, response.text
        return dict(response.json())

    def invite(self, client_id: str, firm_id: str = FIRM_A) -> dict[str, Any]:
        response = self.http.post(f"/v1/clients/{client_id}/invite", headers=firm(firm_id))
        assert response.status_code == 200, response.text
        return dict(response.json())


@contextmanager
def started_service(kafka: KafkaSettings, data_dir: Path, now: datetime = T0) -> Iterator[Service]:
    clock = ManualClock(now)
    app = service_app(kafka, data_dir, clock)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield Service(http, clock, kafka)


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """The app on a real socket (uvicorn in a thread); yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started or None, what="uvicorn to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def eventually(check: Callable[[], R | None], timeout_s: float = 60.0, what: str = "it") -> R:
    """Poll `check` until it returns something (not None/False) or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def topic_rows(
    kafka: KafkaSettings,
    spec: TopicSpec,
    done: Callable[[list[dict[str, Any]]], bool],
    timeout_s: float = 60.0,
) -> list[dict[str, Any]]:
    """Decoded records of a topic from the start until `done(records)` or the deadline.

    Partitions are assigned, not subscribed: no consumer group to join, so reading is quick.
    """
    topic = TopicNames(kafka.topic_prefix).of(spec)
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "unused"})
    deadline = time.monotonic() + timeout_s
    partitions = eventually(
        lambda: consumer.list_topics(topic, timeout=10).topics[topic].partitions,
        what=f"{topic}'s metadata",
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(partitions)])
    rows: list[dict[str, Any]] = []
    try:
        while not done(rows) and time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=0.2):
                if message.error() is None:
                    rows.append(CODEC.decode(message.value()).record)
    finally:
        consumer.close()
    return rows


def of_client(rows: list[dict[str, Any]], client_id: str, **match: Any) -> list[dict[str, Any]]:
    return [
        r
        for r in rows
        if r.get("client_id") == client_id and all(r.get(k) == v for k, v in match.items())
    ]


def link_token(kafka: KafkaSettings, client_id: str, message_kind: str, count: int = 1) -> str:
    """The token of the link in the client's `count`-th notification of `message_kind`, as the
    dispatcher builds it from the link id."""
    rows = topic_rows(
        kafka,
        NOTIFICATIONS,
        lambda rs: len(of_client(rs, client_id, message_kind=message_kind)) >= count,
    )
    notice = of_client(rows, client_id, message_kind=message_kind)[count - 1]
    return TOKENS.issue(notice["link_id"])


def sms_code(kafka: KafkaSettings, firm_id: str, client_id: str, count: int = 1) -> str:
    """The code of the client's `count`-th SMS, derived from its secret_ref (as the dispatcher
    does)."""
    rows = topic_rows(
        kafka,
        NOTIFICATIONS,
        lambda rs: len(of_client(rs, client_id, message_kind="OTP_SMS")) >= count,
    )
    notice = of_client(rows, client_id, message_kind="OTP_SMS")[count - 1]
    counter = otp_counter(notice["secret_ref"])
    assert counter is not None
    return CODES.code(firm_id, client_id, counter)


def async_client(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=30)
