"""Reading topics in tests: poll with a deadline, never sleep."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, Message


def consume_until(
    bootstrap: str, topic: str, done: Callable[[list[Message]], bool], timeout_s: float = 60.0
) -> list[Message]:
    """Read `topic` from the beginning until `done(messages)` or the deadline; returns all read."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not done(messages) and time.monotonic() < deadline:
            messages.extend(m for m in consumer.consume(500, timeout=0.5) if m.error() is None)
    finally:
        consumer.close()
    return messages
