"""Reading a firm's client list (CSV): per-row errors, good rows kept, no value echoed."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from services.dynamic_password.contacts import (
    InvalidContact,
    parse_email,
    parse_phone,
    parse_ssn_last4,
)

COLUMNS = ("email", "phone", "ssn_last4")
MAX_ROWS = 5_000


class InvalidFile(ValueError):
    """The file as a whole cannot be read (encoding, header, size)."""


@dataclass(frozen=True, slots=True)
class ImportRow:
    """A good row: what to add (every part optional until an invite)."""

    line: int
    email: str | None
    phone: str | None
    ssn_last4: str | None


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    error: str


def parse_client_csv(data: bytes) -> tuple[list[ImportRow], list[RowError]]:
    """Good rows and per-row errors of a CSV whose header names some of COLUMNS.

    Raises InvalidFile when the file cannot be read at all.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidFile("the file is not UTF-8 text") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise InvalidFile("the file is empty: a header line is required") from None
    except csv.Error as exc:
        raise InvalidFile(f"the header is not valid CSV: {exc}") from None
    _check_header(header)
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, f"not valid CSV: {exc}"))
            continue
        if len(rows) + len(errors) >= MAX_ROWS:
            raise InvalidFile(f"at most {MAX_ROWS} rows per file")
        if any(field.strip() for field in fields):
            outcome = _row(reader.line_num, header, fields)
            if isinstance(outcome, ImportRow):
                rows.append(outcome)
            else:
                errors.append(outcome)
    return rows, errors


def _check_header(header: list[str]) -> None:
    # Unknown names are not echoed: a file without a header has a client's data there.
    if not header or len(set(header)) != len(header) or not set(header) <= set(COLUMNS):
        raise InvalidFile(
            f"the first line must be a header naming distinct columns among {', '.join(COLUMNS)}"
        )


def _row(line: int, header: list[str], fields: list[str]) -> ImportRow | RowError:
    if len(fields) != len(header):
        return RowError(line, f"expected {len(header)} fields, found {len(fields)}")
    values = {name: value.strip() or None for name, value in zip(header, fields, strict=True)}
    try:
        email, phone, ssn = values.get("email"), values.get("phone"), values.get("ssn_last4")
        return ImportRow(
            line,
            parse_email(email) if email else None,
            parse_phone(phone) if phone else None,
            parse_ssn_last4(ssn) if ssn else None,
        )
    except InvalidContact as exc:
        return RowError(line, str(exc))
