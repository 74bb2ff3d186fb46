"""Dead-letter records: a rejected record kept whole, with where it came from and why."""

from __future__ import annotations

import hashlib
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
    """Where a rejected record came from (partition and offset are -1 outside Kafka).

    `identity` names a record that has no Kafka coordinates (e.g. an HTTP request body's hash),
    so that its dead letter gets its own stable id; without it, the payload's hash is used.
    """

    source_topic: str
    source_partition: int
    source_offset: int
    key: bytes | None
    payload: bytes
    identity: str | None = None

    def coordinates(self, stage: str) -> str:
        """What the dead letter's id is derived from: equal for a retry, unique otherwise."""
        if self.identity is not None:
            return f"{stage}:{self.source_topic}:{self.identity}"
        if self.source_offset < 0:
            digest = hashlib.sha256(self.payload).hexdigest()
            return f"{stage}:{self.source_topic}:sha256:{digest}"
        return f"{stage}:{self.source_topic}:{self.source_partition}:{self.source_offset}"


# An oversized value's dead letter keeps its head (header, first fields) to tell what it was;
# the whole record stays on its topic, at the coordinates the dead letter names.
OVERSIZED_KEPT_BYTES = 4096


def dead_letter_record(
    rejected: Rejected, *, stage: str, error: BaseException, failed_at: datetime
) -> dict[str, Any]:
    """The DeadLetter Avro record for a rejected record; its id is stable across retries.

    Key, payload and reason are kept except for anything that looks like an SSN, phone
    number or email address, which is redacted (bad input may carry them in clear).
    """
    return {
        "dead_letter_id": str(uuid5(DERIVED_EVENT_NAMESPACE, rejected.coordinates(stage))),
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
