"""Dynamic password service, firm side, on the real broker: clients, invites, refusals,
reminders, messages, settings, and tenant isolation on every endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ctrack.settings import KafkaSettings
from schemas.catalogue import (
    CLIENT_CONTACTS,
    CLIENT_EVENTS,
    FIRM_SETTINGS_TOPIC,
    NOTIFICATIONS,
)
from services.credentials import Contact, ContactSealer
from services.dynamic_password.records import notification_id
from tests.integration.dynamic_password_helpers import (
    FIRM_A,
    FIRM_B,
    MASTER,
    T0,
    TOKENS,
    Service,
    firm,
    link_token,
    of_client,
    started_service,
    topic_rows,
)

EMAIL, PHONE = "jane.doe@example.com", "+1 555 010 1234"


@pytest.fixture
def service(kafka: KafkaSettings, tmp_path: Path) -> Iterator[Service]:
    with started_service(kafka, tmp_path / "auth") as started:
        yield started


def test_add_then_invite_emits_events_a_notification_and_a_sealed_contact(
    service: Service,
) -> None:
    client_id = service.add_client(email=EMAIL, phone=PHONE, ssn_last4="6789")
    view = service.client(client_id)
    assert view["status"] == "NOT_INVITED"
    assert view["email_masked"] == "j***@e***.com" and view["phone_masked"] == "***-***-1234"
    assert view["has_ssn_last4"] is True and view["has_password"] is False

    invited = service.invite(client_id)
    assert invited["status"] == "NOT_ENROLLED"
    assert invited["active_link_expires_at"].startswith("2026-02-16T09:00")

    events = topic_rows(service.kafka, CLIENT_EVENTS, lambda rs: len(of_client(rs, client_id)) >= 2)
    added, invite = of_client(events, client_id)
    assert added["event_type"] == "CLIENT_ADDED" and added["origin"] == "MANUAL"
    assert added["email_masked"] == "j***@e***.com" and len(added["email_hash"]) == 64
    assert added["actor"] == "FIRM_USER" and added["firm_user"] == "u.tester"
    assert invite["event_type"] == "INVITE_SENT" and invite["invite_trigger"] == "MANUAL"
    assert invite["link_expires_at"] == T0 + timedelta(days=14)
    [notice] = of_client(
        topic_rows(service.kafka, NOTIFICATIONS, lambda rs: len(rs) >= 1), client_id
    )
    assert notice["channel"] == "EMAIL" and notice["message_kind"] == "DYNAMIC_PASSWORD_INVITE"
    assert notice["link_id"] == invite["link_id"] and notice["secret_ref"] is None
    assert invite["message_id"] == str(notice["notification_id"])
    assert notice["notification_id"] == notification_id(
        "DYNAMIC_PASSWORD_INVITE", invite["event_id"]
    )

    [contact] = topic_rows(service.kafka, CLIENT_CONTACTS, lambda rs: len(rs) >= 1)
    assert contact["client_id"] == client_id and contact["email_hash"] == added["email_hash"]
    opened = ContactSealer(MASTER.encode(), "k1").open(FIRM_A, client_id, contact["sealed"])
    assert opened == Contact(email=EMAIL, phone="+15550101234")


def test_csv_import_keeps_good_rows_and_reports_each_bad_one(service: Service) -> None:
    csv = (
        "Email,Phone,SSN_Last4\n"
        "ann@example.com,555-010-2000,1234\n"
        "not-an-email,,\n"
        ",+44 20 7946 0958,\n"
        "bob@example.com,12,\n"
        "carl@example.com,,12345\n"
        "\n"
        "dora@example.com,,\n"
    )
    response = service.http.post(
        "/v1/clients/import",
        content=csv.encode(),
        headers=firm(FIRM_A) | {"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert [row["line"] for row in report["imported"]] == [2, 4, 8]
    assert [(e["line"], e["error"]) for e in report["errors"]] == [
        (3, "email is not a valid address"),
        (5, "phone must be a mobile number such as +1 555 010 1234"),
        (6, "ssn_last4 must be exactly 4 digits"),
    ]
    assert "bob@example.com" not in response.text
    ids = [row["client_id"] for row in report["imported"]]
    events = topic_rows(service.kafka, CLIENT_EVENTS, lambda rs: len(rs) >= 3)
    assert [e["event_type"] for e in events] == ["CLIENT_IMPORTED"] * 3
    assert {e["client_id"] for e in events} == set(ids)
    assert {e["origin"] for e in events} == {"IMPORT"}
    assert service.client(ids[1])["email_masked"] is None

    for bad, message in (
        (b"", "header"),
        (b"name,email\nx,y@example.com\n", "header"),
        (b"\xff\xfe", "UTF-8"),
    ):
        refused = service.http.post("/v1/clients/import", content=bad, headers=firm(FIRM_A))
        assert refused.status_code == 422 and message in refused.json()["detail"]


def test_invites_are_refused_with_a_clear_reason(service: Service) -> None:
    no_email = service.add_client(email=None)
    api_client = service.add_client(origin="API")
    invited = service.add_client()
    service.invite(invited)

    def refusal(client_id: str, firm_id: str = FIRM_A) -> str:
        response = service.http.post(f"/v1/clients/{client_id}/invite", headers=firm(firm_id))
        assert response.status_code == 409, response.text
        return str(response.json()["detail"])

    assert refusal(no_email) == "client has no email address"
    assert "added through the API" in refusal(api_client)
    assert "only to Not Invited clients; status is NOT_ENROLLED" in refusal(invited)

    fresh = service.add_client()
    response = service.http.post(
        "/v1/invites",
        json={"client_ids": [fresh, no_email, invited, "C-unknown", fresh]},
        headers=firm(FIRM_A),
    )
    assert response.status_code == 200
    outcomes = {o["client_id"]: (o["sent"], o["reason"]) for o in response.json()["outcomes"]}
    assert outcomes == {
        fresh: (True, None),
        no_email: (False, "client has no email address"),
        invited: (False, "invites go only to Not Invited clients; status is NOT_ENROLLED"),
        "C-unknown": (False, "client not found"),
    }

    sso = service.http.patch("/v1/settings", json={"sso_enabled": True}, headers=firm(FIRM_B))
    assert sso.status_code == 200 and sso.json()["sso_enabled"] is True
    sso_client = service.add_client(FIRM_B)
    assert "single sign-on" in refusal(sso_client, FIRM_B)


def test_requests_reminders_identity_unlock_and_messages(service: Service) -> None:
    client_id = service.add_client()
    http, headers = service.http, firm(FIRM_A)

    sent = http.post(f"/v1/clients/{client_id}/requests", json={"kind": "DRL"}, headers=headers)
    assert sent.status_code == 201 and sent.json()["request_id"].startswith("REQ-")
    message = {"subject": "Welcome", "body": "Your organizer is ready."}
    early = http.post(f"/v1/clients/{client_id}/messages", json=message, headers=headers)
    assert early.status_code == 409 and "Connected" in early.json()["detail"]
    reminder = http.post(f"/v1/clients/{client_id}/reminder", headers=headers)
    assert reminder.status_code == 409 and "Not Enrolled" in reminder.json()["detail"]

    service.invite(client_id)
    first = link_token(service.kafka, client_id, "DYNAMIC_PASSWORD_INVITE")
    service.clock.advance(timedelta(days=2))
    reminded = http.post(f"/v1/clients/{client_id}/reminder", headers=headers)
    assert reminded.status_code == 200
    assert reminded.json()["active_link_expires_at"].startswith("2026-02-18T09:00")
    second = link_token(service.kafka, client_id, "INVITATION_REMINDER")
    assert http.post(f"/client/links/{first}").status_code == 401
    assert http.post(f"/client/links/{second}").status_code == 200

    not_locked = http.post(f"/v1/clients/{client_id}/unlock", headers=headers)
    assert not_locked.status_code == 409 and "not locked" in not_locked.json()["detail"]
    confirmed = http.post(f"/v1/clients/{client_id}/identity-confirmation", headers=headers)
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "CONNECTED"
    assert confirmed.json()["verification_method"] == "FIRM_CONFIRMATION"
    again = http.post(f"/v1/clients/{client_id}/identity-confirmation", headers=headers)
    assert again.status_code == 409

    posted = http.post(f"/v1/clients/{client_id}/messages", json=message, headers=headers)
    assert posted.status_code == 201
    with_pii = {"subject": "SSN", "body": "Is 123-45-6789 yours?"}
    refused = http.post(f"/v1/clients/{client_id}/messages", json=with_pii, headers=headers)
    assert refused.status_code == 422 and "SSN" in refused.text and "6789" not in refused.text

    kinds = ["CLIENT_ADDED", "GET_REQUEST_SENT", "INVITE_SENT", "INVITATION_REMINDER_SENT"]
    kinds += ["LINK_REJECTED", "LINK_SELECTED", "OTP_SENT", "IDENTITY_VERIFIED", "MESSAGE_SENT"]
    events = topic_rows(service.kafka, CLIENT_EVENTS, lambda rs: len(of_client(rs, client_id)) >= 9)
    assert [e["event_type"] for e in of_client(events, client_id)] == kinds
    rejected = of_client(events, client_id, event_type="LINK_REJECTED")[0]
    assert rejected["failure_reason"] == "SUPERSEDED_LINK"
    assert rejected["link_id"] == TOKENS.link_id(first)
    notices = topic_rows(service.kafka, NOTIFICATIONS, lambda rs: len(rs) >= 4)
    assert [n["message_kind"] for n in notices] == [
        "DYNAMIC_PASSWORD_INVITE",
        "INVITATION_REMINDER",
        "OTP_SMS",
        "FIRM_MESSAGE",
    ]


def test_firm_settings_are_validated_kept_and_published(service: Service) -> None:
    defaults = service.http.get("/v1/settings", headers=firm(FIRM_A)).json()
    assert defaults["automatic_invites_enabled"] is False and defaults["link_expiry_days"] == 14
    change = {"automatic_invites_enabled": True, "automatic_invite_grace_days": 2}
    changed = service.http.patch("/v1/settings", json=change, headers=firm(FIRM_A))
    assert changed.status_code == 200 and changed.json()["updated_by"] == "u.tester"
    published = topic_rows(service.kafka, FIRM_SETTINGS_TOPIC, lambda rs: len(rs) >= 1)
    assert published[-1]["firm_id"] == FIRM_A
    assert published[-1]["automatic_invite_grace_days"] == 2
    assert service.http.get("/v1/settings", headers=firm(FIRM_B)).json() == defaults | {
        "firm_id": FIRM_B
    }
    for bad in ({}, {"link_expiry_days": 0}, {"firm_id": FIRM_B}, {"max_otp_failures": "x"}):
        response = service.http.patch("/v1/settings", json=bad, headers=firm(FIRM_A))
        assert response.status_code == 422, bad


CLIENT_ENDPOINTS = [
    ("GET", "/v1/clients/{id}", None),
    ("PATCH", "/v1/clients/{id}/contact", {"phone": "+1 555 010 9999"}),
    ("POST", "/v1/clients/{id}/requests", {"kind": "LETTER"}),
    ("POST", "/v1/clients/{id}/invite", None),
    ("POST", "/v1/clients/{id}/reminder", None),
    ("POST", "/v1/clients/{id}/login-link", None),
    ("POST", "/v1/clients/{id}/unlock", None),
    ("POST", "/v1/clients/{id}/identity-confirmation", None),
    ("POST", "/v1/clients/{id}/messages", {"subject": "Hi", "body": "Hello"}),
]


@pytest.mark.parametrize(("method", "path", "body"), CLIENT_ENDPOINTS)
def test_another_firms_client_is_exactly_as_unknown_as_a_missing_one(
    service: Service, method: str, path: str, body: dict[str, str] | None
) -> None:
    theirs = service.add_client(FIRM_A)
    service.invite(theirs)
    as_b = service.http.request(method, path.format(id=theirs), json=body, headers=firm(FIRM_B))
    missing = service.http.request(
        method, path.format(id="C-0123456789abcdef"), json=body, headers=firm(FIRM_B)
    )
    assert as_b.status_code == missing.status_code == 404
    assert as_b.json() == missing.json() == {"detail": "client not found"}
    assert service.client(theirs)["status"] == "NOT_ENROLLED"  # unchanged for its own firm


def test_lists_and_bulk_invites_never_cross_firms(service: Service) -> None:
    mine = [service.add_client(FIRM_B) for _ in range(3)]
    theirs = service.add_client(FIRM_A)
    page = service.http.get("/v1/clients?limit=2", headers=firm(FIRM_B)).json()
    rest = service.http.get(
        f"/v1/clients?limit=2&cursor={page['next_cursor']}", headers=firm(FIRM_B)
    ).json()
    assert [c["client_id"] for c in page["clients"] + rest["clients"]] == mine
    assert rest["next_cursor"] is None
    bulk = service.http.post("/v1/invites", json={"client_ids": [theirs]}, headers=firm(FIRM_B))
    assert bulk.json()["outcomes"] == [
        {"client_id": theirs, "sent": False, "reason": "client not found"}
    ]
    assert service.client(theirs)["status"] == "NOT_INVITED"
    filtered = service.http.get("/v1/clients?status=NOT_ENROLLED", headers=firm(FIRM_B)).json()
    assert filtered["clients"] == []
    for cursor in ("nonsense", "W10", "WzEsMl0"):
        bad = service.http.get(f"/v1/clients?cursor={cursor}", headers=firm(FIRM_B))
        assert bad.status_code == 422


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key-0123456789"}, {"Authorization": "Basic x"}],
)
def test_a_missing_or_unknown_key_is_401(service: Service, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/v1/clients"), ("POST", "/v1/clients"), ("GET", "/v1/settings")):
        response = service.http.request(method, path, json={}, headers=headers)
        assert response.status_code == 401


def test_openapi_documents_both_sides(service: Service) -> None:
    paths = service.http.get("/openapi.json").json()["paths"]
    assert "/v1/clients/{client_id}/invite" in paths and "/client/links/{token}/code" in paths
    assert service.http.get("/docs").status_code == 200
    assert service.http.get("/health").json()["status"] == "ok"
    assert "ctrack_auth_responses_total" in service.http.get("/metrics").text
