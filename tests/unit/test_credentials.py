"""Shared secrets of the dynamic password service and the dispatcher."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from services.credentials import (
    Contact,
    ContactSealer,
    LinkTokens,
    OneTimeCodes,
    otp_counter,
    otp_secret_ref,
)

MASTER = b"m" * 32


def test_link_token_round_trips_and_rejects_forgeries() -> None:
    tokens = LinkTokens(MASTER)
    token = tokens.issue("link-1")
    assert tokens.link_id(token) == "link-1"
    assert tokens.link_id(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert tokens.link_id("link-1") is None
    assert tokens.link_id("") is None
    assert LinkTokens(b"x" * 32).link_id(token) is None


def test_a_token_with_non_ascii_characters_is_refused_not_an_error() -> None:
    # found by the endpoint fuzzer: /client/links/0.%C2%80 answered 500
    tokens = LinkTokens(MASTER)
    for token in ("0.\x80", "L-1.\u00e9\u00e9", tokens.issue("L-1") + "\u2028", "\udc80.x"):
        assert tokens.link_id(token) is None


def test_codes_are_per_client_and_per_counter() -> None:
    codes = OneTimeCodes(MASTER)
    code = codes.code("f", "c", 3)
    assert len(code) == 6 and code.isdigit()
    assert codes.verify("f", "c", 3, code)
    assert not codes.verify("f", "c", 4, code)
    assert codes.code("f", "other", 3) != code or codes.code("f", "other", 4) != codes.code(
        "f", "c", 4
    )


def test_secret_ref_names_only_a_counter() -> None:
    assert otp_counter(otp_secret_ref(17)) == 17
    assert otp_counter(None) is None
    assert otp_counter("otp:x") is None
    assert otp_counter("link:1") is None


def test_sealed_contact_opens_only_for_its_client() -> None:
    sealer = ContactSealer(MASTER, "k1")
    contact = Contact(email="a@example.com", phone="+15551234567")
    sealed = sealer.seal("f", "c", contact)
    assert b"example.com" not in sealed and b"5551234567" not in sealed
    assert sealer.open("f", "c", sealed) == contact
    with pytest.raises(InvalidTag):
        sealer.open("f", "other", sealed)
