"""Fuzzed input against every endpoint of the dynamic password service: never a 5xx; and
decisions taken while Kafka is unreachable are published once it is back."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctrack.settings import KafkaSettings
from schemas.catalogue import CLIENT_EVENTS, NOTIFICATIONS
from tests.integration.dynamic_password_helpers import (
    FIRM_A,
    KEYS,
    TOKENS,
    Service,
    firm,
    link_token,
    of_client,
    started_service,
    topic_rows,
)

FIELDS = [
    "email", "phone", "ssn_last4", "origin", "kind", "client_ids", "subject", "body", "code",
    "last4", "password", "sso_enabled", "automatic_invites_enabled", "link_expiry_days",
    "automatic_invite_grace_days", "otp_lockout_minutes", "max_otp_failures",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["jane@example.com", "+1 555 010 1234", "1234", "DRL", "API", "123456"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
BODIES = st.one_of(
    st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, JSON)),
    JSON,
    st.binary(max_size=200),
)
CLIENT, TOKEN = "@client", "@token"  # replaced by a real client id and link token
SEGMENTS = st.one_of(
    st.text(alphabet=string.printable, min_size=1, max_size=60),
    st.text(min_size=1, max_size=20),
    st.sampled_from([TOKENS.issue("x"), "C-0123456789abcdef", "..", "%00", "a" * 400]),
    st.sampled_from([CLIENT, TOKEN]),
)
HEADER_CHARACTERS = string.ascii_letters + string.digits + string.punctuation + " "
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Authorization": st.sampled_from(
            [f"Bearer {KEYS[FIRM_A]}", "Bearer ", "Bearer x", "Basic abc", "Bearer a b c"]
        ),
        "X-Firm-User": st.text(alphabet=HEADER_CHARACTERS, max_size=80),
        "Content-Type": st.sampled_from(["application/json", "text/csv", "text/plain", "x/y"]),
    },
)
ENDPOINTS = [
    ("POST", "/v1/clients"),
    ("POST", "/v1/clients/import"),
    ("GET", "/v1/clients?limit={s}&cursor={s}&status={s}"),
    ("GET", "/v1/clients/{s}"),
    ("PATCH", "/v1/clients/{s}/contact"),
    ("POST", "/v1/clients/{s}/requests"),
    ("POST", "/v1/clients/{s}/invite"),
    ("POST", "/v1/invites"),
    ("POST", "/v1/clients/{s}/reminder"),
    ("POST", "/v1/clients/{s}/login-link"),
    ("POST", "/v1/clients/{s}/unlock"),
    ("POST", "/v1/clients/{s}/identity-confirmation"),
    ("POST", "/v1/clients/{s}/messages"),
    ("GET", "/v1/settings"),
    ("PATCH", "/v1/settings"),
    ("GET", "/client/links/{s}"),
    ("POST", "/client/links/{s}"),
    ("POST", "/client/links/{s}/code"),
    ("POST", "/client/links/{s}/ssn"),
    ("POST", "/client/login-link"),
    ("POST", "/client/password"),
    ("POST", "/client/login"),
    ("GET", "/v1/returns/{s}"),
    ("POST", "/v1/returns/{s}/unlock"),
    ("GET", "/client/messages?limit={s}"),
]


@pytest.fixture(scope="module")
def fuzzed(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, dict[str, str]]]:
    """One service for every fuzzed request (module scope keeps the suite fast)."""
    import uuid

    from ctrack.topic_admin import ensure_topics
    from schemas.catalogue import TopicNames

    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}"
    )
    ensure_topics(kafka_bootstrap, TopicNames(kafka.topic_prefix))
    with started_service(kafka, tmp_path_factory.mktemp("auth")) as service:
        client_id = service.add_client(ssn_last4="1234")
        service.invite(client_id)
        token = link_token(kafka, client_id, "DYNAMIC_PASSWORD_INVITE")
        yield service, {CLIENT: client_id, TOKEN: token}


def send(service: Service, method: str, path: str, body: Any, headers: dict[str, str]) -> int:
    if not isinstance(body, bytes):  # NaN and Infinity go out as Python writes them (not JSON)
        body = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} | headers
    return service.http.request(method, path, content=body, headers=headers).status_code


@pytest.mark.parametrize(("method", "template"), ENDPOINTS)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES, segment=SEGMENTS, headers=HEADERS)
def test_no_input_gets_a_5xx(
    fuzzed: tuple[Service, dict[str, str]],
    method: str,
    template: str,
    body: Any,
    segment: str,
    headers: dict[str, str],
) -> None:
    service, real = fuzzed
    path = template.format(s=quote(real.get(segment, segment), safe=""))
    status = send(service, method, path, body, headers)
    assert status < 500, (method, path, status)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(st.text(max_size=30), max_size=4), max_size=6),
    header=st.text(max_size=40),
)
def test_no_csv_gets_a_5xx(
    fuzzed: tuple[Service, dict[str, str]], rows: list[list[str]], header: str
) -> None:
    lines = [header or "email,phone,ssn_last4", *(",".join(row) for row in rows)]
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    response = fuzzed[0].http.post("/v1/clients/import", content=data, headers=firm(FIRM_A))
    assert response.status_code in (200, 413, 422), response.text


def test_decisions_taken_while_kafka_is_down_are_published_when_it_is_back(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    unreachable = kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:9"})
    with started_service(unreachable, tmp_path / "auth") as offline:
        client_id = offline.add_client()
        assert offline.invite(client_id)["status"] == "NOT_ENROLLED"
        assert offline.http.get("/health").json()["outbox_pending"] == 4
    with started_service(kafka, tmp_path / "auth") as online:
        assert online.client(client_id)["status"] == "NOT_ENROLLED"
        events = topic_rows(kafka, CLIENT_EVENTS, lambda rs: len(rs) >= 2)
        assert [e["event_type"] for e in of_client(events, client_id)] == [
            "CLIENT_ADDED",
            "INVITE_SENT",
        ]
        [notice] = topic_rows(kafka, NOTIFICATIONS, lambda rs: len(rs) >= 1)
        assert notice["client_id"] == client_id
