"""Poison records for the fault runs: undecodable bytes, an unknown schema fingerprint, illegal
transitions (valid records the rules must refuse) and oversized payloads (a valid 2 MiB event,
over `KafkaSettings.max_record_bytes`; a 9 MiB one, over what the broker takes), each with the
dead-letter error types that name its fault."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from producers.simulator import SimulationPlan
from schemas.catalogue import CLIENT_EVENT, TRACKING_EVENT
from schemas.codec import SINGLE_OBJECT_MARKER

OVERSIZED_BYTES = 2 * 1024 * 1024  # over the 1 MiB record limit (and most fetch sizes)
UNDECODABLE, UNKNOWN_SCHEMA = "undecodable bytes", "unknown schema fingerprint"
ILLEGAL, OVERSIZED = "illegal transition", "oversized payload"
# A poison record passes when a dead letter at its coordinates (any stage) names one of these;
# a truncated single-object header reads as an unknown fingerprint.
EXPECTED_ERRORS = {
    UNDECODABLE: frozenset({"UnknownEncodingError", "UnknownSchemaError"}),
    UNKNOWN_SCHEMA: frozenset({"UnknownSchemaError"}),
    ILLEGAL: frozenset({"IllegalTransitionError"}),
    OVERSIZED: frozenset({"RecordTooLargeError"}),
}


def illegal_transitions(plan: SimulationPlan, count: int) -> list[tuple[str, str, dict[str, Any]]]:
    """Valid client events for clients that were never added: the status rule refuses them."""
    at = datetime.fromtimestamp(plan.start_ms / 1000 + 3600, UTC)
    records = []
    for n in range(count):
        client_id = f"S{plan.seed}-F0000-POISON{n:04d}"
        record = {
            "event_id": str(uuid5(NAMESPACE_URL, f"season-poison:{plan.seed}:{n}")),
            "event_type": "OTP_VERIFIED",
            "occurred_at": at,
            "firm_id": f"S{plan.seed}-F0000",
            "client_id": client_id,
            "actor": "CLIENT",
            "verification_method": "OTP_SMS",
        }
        records.append((CLIENT_EVENT, client_id, _client_event(record)))
    return records


def oversized_tracking(plan: SimulationPlan) -> tuple[str, str, dict[str, Any]]:
    """A well-formed tracking event whose file name is 2 MiB long."""
    return_id = f"S{plan.seed}-F0000-RPOISON"
    record = {
        "event_id": str(uuid5(NAMESPACE_URL, f"season-poison-oversized:{plan.seed}")),
        "event_type": "DOCUMENT_DOWNLOADED",
        "occurred_at": datetime.fromtimestamp(plan.start_ms / 1000 + 3600, UTC),
        "firm_id": f"S{plan.seed}-F0000",
        "return_id": return_id,
        "recipient_role": "TAXPAYER",
        "actor": "CLIENT",
        "client_id": None,
        "firm_user": None,
        "detail": "x" * OVERSIZED_BYTES + ".pdf",
        "failure_reason": None,
        "kba_round": None,
        "caused_by": None,
    }
    return TRACKING_EVENT, return_id, record


def undecodable(count: int) -> Iterator[bytes]:
    """Bytes that are no Avro record of ours: random-looking text, a truncated header."""
    for n in range(count):
        yield b"not avro at all #%d" % n if n % 2 == 0 else SINGLE_OBJECT_MARKER + b"\x01\x02"


def unknown_fingerprint(count: int) -> Iterator[bytes]:
    """Single-object encoding with a fingerprint no schema of ours has."""
    for n in range(count):
        yield SINGLE_OBJECT_MARKER + bytes.fromhex("deadbeefcafef00d") + bytes([n % 256]) * 12


def _client_event(facts: dict[str, Any]) -> dict[str, Any]:
    names = (
        "firm_user", "origin", "email_hash", "email_masked", "phone_hash", "phone_masked",
        "get_request_kind", "request_id", "invite_trigger", "link_id", "link_expires_at",
        "superseded_by", "verification_method", "failure_reason", "status_from", "status_to",
        "message_id", "locked_until", "caused_by",
    )  # fmt: skip
    return {**dict.fromkeys(names), **facts}
