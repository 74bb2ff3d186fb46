"""What firms and clients type: contact details and CSV files, checked without echoing values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.dynamic_password.contacts import (
    InvalidContact,
    parse_email,
    parse_phone,
    parse_ssn_last4,
)
from services.dynamic_password.csv_import import (
    MAX_ROWS,
    ImportRow,
    InvalidFile,
    RowError,
    parse_client_csv,
)


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (" Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
    ],
)
def test_emails_are_normalised(raw: str, parsed: str) -> None:
    assert parse_email(raw) == parsed


@pytest.mark.parametrize("raw", ["", "jane", "jane@", "@example.com", "jane@example", "a b@c.io"])
def test_bad_emails_are_refused_without_echo(raw: str) -> None:
    with pytest.raises(InvalidContact) as refused:
        parse_email(raw)
    assert raw.strip() == "" or raw not in str(refused.value)


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("555-010-1234", "+15550101234"),
        ("(555) 010 1234", "+15550101234"),
        ("+1 555.010.1234", "+15550101234"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phones_become_e164(raw: str, parsed: str) -> None:
    assert parse_phone(raw) == parsed


@pytest.mark.parametrize(
    "raw", ["12", "555-0101", "phone", "+1 555 010 1234 ext 5", "+" + "1" * 16]
)
def test_bad_phones_are_refused(raw: str) -> None:
    with pytest.raises(InvalidContact):
        parse_phone(raw)


@pytest.mark.parametrize(
    ("raw", "ok"),
    [("1234", True), (" 0001 ", True), ("123", False), ("12a4", False), ("12345", False)],
)
def test_ssn_last4_is_four_digits(raw: str, ok: bool) -> None:
    if ok:
        assert parse_ssn_last4(raw) == raw.strip()
    else:
        with pytest.raises(InvalidContact):
            parse_ssn_last4(raw)


def test_csv_keeps_good_rows_and_reports_bad_ones_by_line() -> None:
    data = (
        b"\xef\xbb\xbfPhone,Email\r\n"
        b"555-010-1234,ann@example.com\r\n"
        b",\r\n"
        b"12,bob@example.com\r\n"
        b"only-one-field\r\n"
        b'"+44 20 7946 0958",\r\n'
    )
    rows, errors = parse_client_csv(data)
    assert rows == [
        ImportRow(2, "ann@example.com", "+15550101234", None),
        ImportRow(6, None, "+442079460958", None),
    ]
    assert errors == [
        RowError(4, "phone must be a mobile number such as +1 555 010 1234"),
        RowError(5, "expected 2 fields, found 1"),
    ]


@pytest.mark.parametrize(
    "data",
    [b"", b"\n", b"email,email\n", b"email,name\n", b"a@example.com,555-010-1234\n", b"\xff"],
)
def test_unreadable_files_are_refused_whole(data: bytes) -> None:
    with pytest.raises(InvalidFile) as refused:
        parse_client_csv(data)
    assert b"example" not in str(refused.value).encode()


def test_files_are_bounded() -> None:
    rows, _ = parse_client_csv(b"ssn_last4\n" + b"1234\n" * MAX_ROWS)
    assert len(rows) == MAX_ROWS
    with pytest.raises(InvalidFile):
        parse_client_csv(b"ssn_last4\n" + b"1234\n" * (MAX_ROWS + 1))


@given(st.binary(max_size=300))
def test_any_bytes_give_rows_errors_or_a_refusal(data: bytes) -> None:
    try:
        rows, errors = parse_client_csv(data)
    except InvalidFile:
        return
    assert all(isinstance(row, ImportRow) for row in rows)
    assert all(isinstance(error, RowError) and error.line >= 2 for error in errors)
