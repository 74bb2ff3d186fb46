"""Logging in with the regular password, on the real broker: sessions, the same 401 for every
failure, wrong passwords counted toward the login lock like wrong codes, one at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ctrack.settings import KafkaSettings
from schemas.catalogue import CLIENT_EVENTS
from services.dynamic_password.clock import ManualClock
from services.dynamic_password.errors import NOT_ACCEPTED
from tests.integration.dynamic_password_helpers import (
    FIRM_A,
    FIRM_B,
    T0,
    Service,
    firm,
    link_token,
    of_client,
    served,
    service_app,
    sms_code,
    started_service,
    topic_rows,
)

REFUSED = (401, {"detail": NOT_ACCEPTED})
EMAIL, PASSWORD = "jane.doe@example.com", "correct horse battery staple"  # noqa: S105 - a test's


@pytest.fixture
def service(kafka: KafkaSettings, tmp_path: Path) -> Iterator[Service]:
    with started_service(kafka, tmp_path / "auth") as started:
        yield started


def with_password(http: httpx.Client | Any, kafka: KafkaSettings, firm_id: str = FIRM_A) -> str:
    """A Connected client of `firm_id` at EMAIL, with PASSWORD set; returns its id."""
    added = http.post(
        "/v1/clients", json={"email": EMAIL, "phone": "5550104545"}, headers=firm(firm_id)
    )
    client_id = str(added.json()["client_id"])
    assert http.post(f"/v1/clients/{client_id}/invite", headers=firm(firm_id)).status_code == 200
    token = link_token(kafka, client_id, "DYNAMIC_PASSWORD_INVITE")
    assert http.post(f"/client/links/{token}").status_code == 200
    code = sms_code(kafka, firm_id, client_id)
    session = http.post(f"/client/links/{token}/code", json={"code": code}).json()["session_token"]
    bearer = {"Authorization": f"Bearer {session}"}
    assert (
        http.post("/client/password", json={"password": PASSWORD}, headers=bearer).status_code
        == 204
    )
    return client_id


def log_in(service: Service, password: str = PASSWORD, email: str = EMAIL) -> tuple[int, Any]:
    response = service.http.post("/client/login", json={"email": email, "password": password})
    return response.status_code, response.json()


def events(service: Service, client_id: str, count: int) -> list[dict[str, Any]]:
    rows = topic_rows(
        service.kafka, CLIENT_EVENTS, lambda rs: len(of_client(rs, client_id)) >= count
    )
    return of_client(rows, client_id)


def test_the_password_opens_a_session_and_wrong_ones_lock_like_wrong_codes(
    service: Service,
) -> None:
    client_id = with_password(service.http, service.kafka)
    status, body = log_in(service)
    assert status == 200 and [(s["firm_id"], s["status"]) for s in body["sessions"]] == [
        (FIRM_A, "CONNECTED")
    ]
    bearer = {"Authorization": f"Bearer {body['sessions'][0]['session_token']}"}
    assert service.http.get("/client/messages", headers=bearer).status_code == 200

    unknown = log_in(service, email="nobody@example.com")
    assert [unknown, log_in(service, "wrong password 1")] == [REFUSED] * 2
    assert log_in(service)[0] == 200  # a success starts the count again
    assert [log_in(service, f"wrong password {n}") for n in (2, 3)] == [REFUSED] * 2
    assert service.client(client_id)["login_locked_until"] is None
    assert log_in(service, "wrong password 4") == REFUSED
    assert service.client(client_id)["login_locked_until"].startswith("2026-02-02T11:00")
    assert log_in(service) == REFUSED  # locked: even the right password
    assert log_in(service, "wrong password 5") == REFUSED  # and nothing more is counted

    flow = events(service, client_id, 12)
    assert [e["event_type"] for e in flow[4:6]] == ["OTP_VERIFIED", "PASSWORD_SET"]
    after_password = [(e["event_type"], e["failure_reason"]) for e in flow[6:]]
    assert after_password == [
        ("OTP_VERIFIED", None),
        ("OTP_FAILED", "WRONG_PASSWORD"),
        ("OTP_VERIFIED", None),
        ("OTP_FAILED", "WRONG_PASSWORD"),
        ("OTP_FAILED", "WRONG_PASSWORD"),
        ("OTP_FAILED", "WRONG_PASSWORD"),
    ]  # the LOGIN_LOCKED that follows is the stream worker's to emit
    assert all(e["verification_method"] is None for e in flow[6:])

    assert (
        service.http.post(f"/v1/clients/{client_id}/unlock", headers=firm(FIRM_A)).status_code
        == 200
    )
    assert log_in(service)[0] == 200


def test_one_address_at_two_firms_gets_a_session_where_the_password_matches(
    service: Service,
) -> None:
    at_a = with_password(service.http, service.kafka, FIRM_A)
    at_b = with_password(service.http, service.kafka, FIRM_B)
    status, body = log_in(service)
    assert status == 200 and sorted(s["firm_id"] for s in body["sessions"]) == [FIRM_A, FIRM_B]
    assert log_in(service, "wrong password") == REFUSED
    for client_id in (at_a, at_b):
        failed = [e for e in events(service, client_id, 8) if e["event_type"] == "OTP_FAILED"]
        assert [e["failure_reason"] for e in failed] == ["WRONG_PASSWORD"]


def test_twenty_concurrent_wrong_passwords_fail_exactly_three_times(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    app = service_app(kafka, tmp_path / "auth", ManualClock(T0))
    with served(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as http:
        client_id = with_password(http, kafka)

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
                attempts = [{"email": EMAIL, "password": f"wrong password {n}"} for n in range(20)]
                return await asyncio.gather(
                    *(client.post("/client/login", json=a) for a in attempts)
                )

        answers = asyncio.run(burst())
        assert {(r.status_code, r.json()["detail"]) for r in answers} == {(401, NOT_ACCEPTED)}
        right = http.post("/client/login", json={"email": EMAIL, "password": PASSWORD})
        assert right.status_code == 401
        view = http.get(f"/v1/clients/{client_id}", headers=firm(FIRM_A)).json()
        assert view["login_locked_until"] is not None

    rows = topic_rows(
        kafka, CLIENT_EVENTS, lambda rs: bool(of_client(rs, client_id, event_type="LOGIN_LOCKED"))
    )
    assert len(of_client(rows, client_id, event_type="OTP_FAILED")) == 3
