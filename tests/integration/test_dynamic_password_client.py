"""Dynamic password service, client side, on the real broker: links, codes, SSN digits, new
login links, passwords, and failures that all look the same."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from ctrack.settings import KafkaSettings
from schemas.catalogue import CLIENT_EVENTS, NOTIFICATIONS
from services.dynamic_password.errors import NOT_ACCEPTED
from services.dynamic_password.routes.client import LOGIN_LINK_ANSWER
from services.dynamic_password.store import Store
from tests.integration.dynamic_password_helpers import (
    FIRM_A,
    TOKENS,
    Service,
    firm,
    link_token,
    of_client,
    sms_code,
    started_service,
    topic_rows,
)

REFUSED = (401, {"detail": NOT_ACCEPTED})


@pytest.fixture
def service(kafka: KafkaSettings, tmp_path: Path) -> Iterator[Service]:
    with started_service(kafka, tmp_path / "auth") as started:
        yield started


def invited(service: Service, **body: Any) -> tuple[str, str]:
    """A Not Enrolled client and the token of its invite link."""
    client_id = service.add_client(**body)
    service.invite(client_id)
    return client_id, link_token(service.kafka, client_id, "DYNAMIC_PASSWORD_INVITE")


def answer(response: Any) -> tuple[int, Any]:
    return response.status_code, response.json()


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def event_types(service: Service, client_id: str, count: int) -> list[str]:
    rows = topic_rows(
        service.kafka, CLIENT_EVENTS, lambda rs: len(of_client(rs, client_id)) >= count
    )
    return [row["event_type"] for row in of_client(rows, client_id)]


def test_link_then_code_connects_and_a_replayed_code_is_refused(service: Service) -> None:
    client_id, token = invited(service)
    assert service.http.get(f"/client/links/{token}").status_code == 200
    opened = service.http.post(f"/client/links/{token}")
    assert opened.status_code == 200
    assert opened.json() == {
        "code_sent": True,
        "sent_to": "***-***-1234",
        "code_expires_in_s": 300,
        "ssn_verification": False,
    }
    [sms] = of_client(topic_rows(service.kafka, NOTIFICATIONS, lambda rs: len(rs) >= 2), client_id)[
        1:
    ]
    assert sms["channel"] == "SMS" and sms["secret_ref"] == "otp:1"  # noqa: S105 - a counter
    assert sms["link_id"] == TOKENS.link_id(token)

    code = sms_code(service.kafka, FIRM_A, client_id)
    verified = service.http.post(f"/client/links/{token}/code", json={"code": code})
    assert verified.status_code == 200
    assert verified.json()["status"] == "CONNECTED" and verified.json()["session_token"]
    view = service.client(client_id)
    assert view["status"] == "CONNECTED" and view["verification_method"] == "OTP_SMS"

    replayed = service.http.post(f"/client/links/{token}/code", json={"code": code})
    assert answer(replayed) == REFUSED
    types = event_types(service, client_id, 6)
    assert types == [
        "CLIENT_ADDED",
        "INVITE_SENT",
        "LINK_SELECTED",
        "OTP_SENT",
        "OTP_VERIFIED",
        "OTP_FAILED",
    ]
    failed = of_client(
        topic_rows(service.kafka, CLIENT_EVENTS, lambda rs: len(rs) >= 6), client_id
    )[-1]
    assert failed["failure_reason"] == "REPLAYED_CODE"


def test_only_the_newest_code_works_and_only_for_five_minutes(service: Service) -> None:
    client_id, token = invited(service)
    service.http.post(f"/client/links/{token}")
    first = sms_code(service.kafka, FIRM_A, client_id, 1)
    service.http.post(f"/client/links/{token}")
    second = sms_code(service.kafka, FIRM_A, client_id, 2)
    assert answer(service.http.post(f"/client/links/{token}/code", json={"code": first})) == REFUSED

    service.clock.advance(timedelta(seconds=300))
    expired = service.http.post(f"/client/links/{token}/code", json={"code": second})
    assert answer(expired) == REFUSED
    rows = topic_rows(service.kafka, CLIENT_EVENTS, lambda rs: len(of_client(rs, client_id)) >= 8)
    reasons = [r["failure_reason"] for r in of_client(rows, client_id, event_type="OTP_FAILED")]
    assert reasons == ["WRONG_CODE", "EXPIRED_CODE"]

    service.http.post(f"/client/links/{token}")
    third = sms_code(service.kafka, FIRM_A, client_id, 3)
    assert service.http.post(f"/client/links/{token}/code", json={"code": third}).status_code == 200


def test_expired_and_superseded_links_are_refused_like_unknown_ones(service: Service) -> None:
    client_id, first = invited(service)
    service.clock.advance(timedelta(days=1))
    assert (
        service.http.post(f"/v1/clients/{client_id}/reminder", headers=firm(FIRM_A)).status_code
        == 200
    )
    second = link_token(service.kafka, client_id, "INVITATION_REMINDER")
    unknown = TOKENS.issue("no-such-link")
    forged = first[:-2] + "xx"

    for token in (first, unknown, forged, "", "a.b", "x" * 300):
        assert answer(service.http.post(f"/client/links/{token}")) in (
            REFUSED,
            (404, {"detail": "Not Found"}),
        )
    assert answer(service.http.post(f"/client/links/{first}")) == REFUSED
    service.clock.advance(timedelta(days=14))
    assert answer(service.http.post(f"/client/links/{second}")) == REFUSED
    rows = topic_rows(
        service.kafka,
        CLIENT_EVENTS,
        lambda rs: len(of_client(rs, client_id, event_type="LINK_REJECTED")) >= 3,
    )
    rejected = of_client(rows, client_id, event_type="LINK_REJECTED")
    assert [r["failure_reason"] for r in rejected] == ["SUPERSEDED_LINK"] * 2 + ["EXPIRED_LINK"]


def test_at_most_five_codes_per_ten_minutes(service: Service) -> None:
    _, token = invited(service)
    for _ in range(5):
        assert service.http.post(f"/client/links/{token}").status_code == 200
        service.clock.advance(timedelta(minutes=1))
    limited = service.http.post(f"/client/links/{token}")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "300"
    service.clock.advance(timedelta(minutes=5, seconds=1))
    assert service.http.post(f"/client/links/{token}").status_code == 200


def test_ssn_last4_verifies_only_where_the_firm_allows_it(service: Service) -> None:
    client_id, token = invited(service, ssn_last4="6789")
    assert (
        answer(service.http.post(f"/client/links/{token}/ssn", json={"last4": "6789"})) == REFUSED
    )
    allow = {"ssn_verification_allowed": True}
    assert service.http.patch("/v1/settings", json=allow, headers=firm(FIRM_A)).status_code == 200
    assert service.http.post(f"/client/links/{token}").json()["ssn_verification"] is True

    assert (
        answer(service.http.post(f"/client/links/{token}/ssn", json={"last4": "1234"})) == REFUSED
    )
    passed = service.http.post(f"/client/links/{token}/ssn", json={"last4": "6789"})
    assert passed.status_code == 200 and passed.json()["status"] == "CONNECTED"
    assert service.client(client_id)["verification_method"] == "SSN_LAST4"
    bad = service.http.post(f"/client/links/{token}/ssn", json={"last4": "67a9"})
    assert bad.status_code == 422 and "67a9" not in bad.text
    types = event_types(service, client_id, 6)
    assert types[-2:] == ["SSN_CHECK_FAILED", "SSN_CHECK_PASSED"]
    assert "LINK_SELECTED" in types  # the open above; the refused first attempt emitted nothing


def test_new_login_link_answers_the_same_whether_or_not_the_address_is_known(
    service: Service,
) -> None:
    client_id, old = invited(service, email="Known.Client@Example.com")
    other = service.add_client(email="never.invited@example.com")
    answers = [
        service.http.post("/client/login-link", json={"email": email})
        for email in (
            "known.client@example.com",
            "stranger@example.com",
            "never.invited@example.com",
        )
    ]
    assert {(r.status_code, r.json()["message"]) for r in answers} == {(202, LOGIN_LINK_ANSWER)}
    new = link_token(service.kafka, client_id, "LOGIN_LINK")
    assert answer(service.http.post(f"/client/links/{old}")) == REFUSED
    assert service.http.post(f"/client/links/{new}").status_code == 200

    rows = topic_rows(service.kafka, CLIENT_EVENTS, lambda rs: len(of_client(rs, client_id)) >= 6)
    types = [r["event_type"] for r in of_client(rows, client_id)]
    assert types[2:4] == ["NEW_LOGIN_LINK_REQUESTED", "NEW_LOGIN_LINK_SENT"]
    [declined] = of_client(rows, other, event_type="NEW_LOGIN_LINK_REQUESTED")
    assert declined["failure_reason"] == "NOT_ELIGIBLE"
    assert not of_client(rows, other, event_type="NEW_LOGIN_LINK_SENT")
    assert service.http.post("/client/login-link", json={"email": "nope"}).status_code == 422


def test_a_password_needs_a_verified_session(service: Service, tmp_path: Path) -> None:
    client_id, token = invited(service)
    password = {"password": "correct horse battery staple"}
    assert service.http.post("/client/password", json=password).status_code == 401
    service.http.post(f"/client/links/{token}")
    code = sms_code(service.kafka, FIRM_A, client_id)
    session = service.http.post(f"/client/links/{token}/code", json={"code": code}).json()
    bearer = {"Authorization": f"Bearer {session['session_token']}"}
    short = service.http.post("/client/password", json={"password": "short"}, headers=bearer)
    assert short.status_code == 422 and "12 characters" in short.json()["detail"]
    assert service.http.post("/client/password", json=password, headers=bearer).status_code == 204
    assert service.client(client_id)["has_password"] is True
    assert event_types(service, client_id, 6)[-1] == "PASSWORD_SET"
    service.clock.advance(timedelta(minutes=31))
    assert service.http.post("/client/password", json=password, headers=bearer).status_code == 401

    stored = Store(tmp_path / "auth" / "dynamic-password.sqlite3").client(client_id)
    assert stored is not None and stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(stored.password_hash, password["password"])


def test_unknown_link_wrong_code_and_locked_login_get_the_same_answer(service: Service) -> None:
    client_id, token = invited(service)
    service.http.post(f"/client/links/{token}")
    code = sms_code(service.kafka, FIRM_A, client_id)
    wrong = {"code": other_code(code)}
    unknown = service.http.post(f"/client/links/{TOKENS.issue('nope')}/code", json=wrong)
    attempts = [service.http.post(f"/client/links/{token}/code", json=wrong) for _ in range(4)]
    locked = service.http.post(f"/client/links/{token}/code", json={"code": code})
    assert [answer(r) for r in [unknown, *attempts, locked]] == [REFUSED] * 6
    view = service.client(client_id)
    assert view["login_locked_until"] is not None and view["status"] == "NOT_ENROLLED"
    assert answer(service.http.post(f"/client/links/{token}")) == REFUSED
    rows = topic_rows(service.kafka, CLIENT_EVENTS, lambda rs: len(of_client(rs, client_id)) >= 7)
    assert len(of_client(rows, client_id, event_type="OTP_FAILED")) == 3

    unlocked = service.http.post(f"/v1/clients/{client_id}/unlock", headers=firm(FIRM_A))
    assert unlocked.status_code == 200 and unlocked.json()["login_locked_until"] is None
    assert service.http.post(f"/client/links/{token}/code", json={"code": code}).status_code == 200
