"""Dead-letter records: a rejected record kept whole, with where it came from and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid5

from schemas.catalogue import DEAD_LETTER
from schemas.pii import redact
from schemas.tracking import DERIVED_EVENT_NAMESPACE

SCHEMA_NAME = DEAD_LETTER


@dataclass(frozen=True, slots=True)
class Rejected:
    """Where a rejected record came from (partition and offset are -1 outside Kafka)."""

    source_topic: str
    source_partition: int
    source_offset: int
    key: bytes | None
    payload: bytes


def dead_letter_record(
    rejected: Rejected, *, stage: str, error: BaseException, failed_at: datetime
) -> dict[str, Any]:
    """The DeadLetter Avro record for a rejected record; its id is stable across retries.

    Key, payload and reason are kept except for anything that looks like an SSN, phone
    number or email address, which is redacted (bad input may carry them in clear).
    """
    coordinates = (
        f"{stage}:{rejected.source_topic}:{rejected.source_partition}:{rejected.source_offset}"
    )
    return {
        "dead_letter_id": str(uuid5(DERIVED_EVENT_NAMESPACE, coordinates)),
        "failed_at": failed_at,
        "stage": stage,
        "error_type": type(error).__name__,
        "reason": redact((str(error) or repr(error)).encode()).decode(errors="replace"),
        "source_topic": rejected.source_topic,
        "source_partition": rejected.source_partition,
        "source_offset": rejected.source_offset,
        "source_key": redact(rejected.key) if rejected.key is not None else None,
        "payload": redact(rejected.payload),
    }
