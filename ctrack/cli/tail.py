"""`ctrack tail TOPIC`: decode and print the records of any catalogue topic."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:  # imported lazily at run time: confluent-kafka slows every ctrack command
    from confluent_kafka import Consumer, Message

    from schemas.codec import AvroCodec

console = Console(stderr=True)
out = Console(soft_wrap=True, highlight=False)

# Fields shown first on a readable line; ids and times are shown in their own columns.
_KIND_FIELDS = ("event_type", "status", "kind", "error_type")
_TIME_FIELDS = ("occurred_at", "updated_at", "raised_at", "failed_at", "requested_at", "fired_at")
_QUIET_FIELDS = {"event_id", "alert_id", "trigger_id", "notification_id", "dead_letter_id"}


@dataclass(frozen=True)
class Printed:
    """One consumed record as shown: where it came from, and its record or why not."""

    topic: str
    partition: int
    offset: int
    key: str | None
    schema: str | None
    record: dict[str, Any] | None
    error: str | None


def tail_command(
    topic: Annotated[
        str, typer.Argument(help="Catalogue name (tracking, client-events, ...) or full topic.")
    ],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest record, not the end.")
    ] = False,
    max_records: Annotated[
        int, typer.Option("--max", min=0, help="Stop after this many records (0 = never).")
    ] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (times as ISO strings).")
    ] = False,
    idle_timeout: Annotated[
        float,
        typer.Option(min=0, help="Stop after this many seconds without a record (0 = never)."),
    ] = 0.0,
) -> None:
    """Print a topic's records decoded (single-object or schema-registry encoding)."""
    from ctrack.runtime import process_codec
    from ctrack.settings import KafkaSettings

    kafka = KafkaSettings()
    full_name = resolve_topic(topic, kafka.topic_prefix)
    consumer = _consumer(kafka.bootstrap, full_name, from_beginning)
    codec, shown, last_seen = process_codec(), 0, time.monotonic()
    try:
        while not max_records or shown < max_records:
            wanted = 500 if not max_records else min(500, max_records - shown)
            messages = [m for m in consumer.consume(wanted, timeout=0.5) if _ok(m)]
            for message in messages:
                _print(decode_message(message, codec), as_json)
            shown += len(messages)
            if messages:
                last_seen = time.monotonic()
            elif idle_timeout and time.monotonic() - last_seen > idle_timeout:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def resolve_topic(name: str, prefix: str) -> str:
    """`tracking` -> `<prefix>.tracking`; any other name is taken as a full topic name."""
    from schemas.catalogue import ALL_TOPICS, TopicNames

    names = TopicNames(prefix)
    for spec in ALL_TOPICS:
        if name == spec.name:
            return names.of(spec)
    return name


def decode_message(message: Message, codec: AvroCodec) -> Printed:
    """The record of a message, or the reason it cannot be decoded (never raises)."""
    raw_key = message.key()
    key = raw_key.decode(errors="replace") if isinstance(raw_key, bytes) else raw_key
    where = (message.topic() or "", message.partition() or 0, message.offset() or 0, key)
    value = message.value()
    if value is None:
        return Printed(*where, None, None, "no value (tombstone)")
    try:
        decoded = codec.decode(value)
    except Exception as exc:  # any failure is shown with the record, the tail goes on
        return Printed(*where, None, None, f"{type(exc).__name__}: {exc}")
    return Printed(*where, decoded.schema_name, decoded.record, None)


def to_json(printed: Printed) -> str:
    """One line of JSON; logical types (timestamps, dates, uuids) as ISO / canonical strings."""
    body: dict[str, Any] = {
        "topic": printed.topic,
        "partition": printed.partition,
        "offset": printed.offset,
        "key": printed.key,
    }
    if printed.error is not None:
        body["error"] = printed.error
    else:
        body["schema"] = printed.schema
        body["record"] = printed.record
    return json.dumps(body, default=_jsonable, ensure_ascii=False)


def to_line(printed: Printed) -> str:
    """A readable line: time, where, key, schema and kind, then the other non-empty fields."""
    where = f"{printed.topic}/{printed.partition}@{printed.offset}"
    if printed.record is None:
        return f"{where} key={printed.key} UNDECODABLE: {printed.error}"
    record = printed.record
    moment = next((record[f] for f in _TIME_FIELDS if record.get(f) is not None), None)
    kind = next((str(record[f]) for f in _KIND_FIELDS if record.get(f) is not None), "")
    shown = {*_KIND_FIELDS, *_TIME_FIELDS, *_QUIET_FIELDS}
    rest = " ".join(
        f"{name}={_text(value)}"
        for name, value in record.items()
        if name not in shown and value not in (None, [], False) and value != printed.key
    )
    schema = (printed.schema or "").rsplit(".", 1)[-1]
    return f"{_text(moment)} {where} key={printed.key} {schema} {kind} {rest}".rstrip()


def _print(printed: Printed, as_json: bool) -> None:
    text = to_json(printed) if as_json else to_line(printed)
    if as_json:
        print(text, flush=True)  # plain stdout: exactly one JSON object per line
    elif printed.error is not None:
        out.print(f"[red]{escape(text)}[/red]")
    else:
        out.print(escape(text))


def _consumer(bootstrap: str, topic: str, from_beginning: bool) -> Consumer:
    """A consumer assigned to every partition (no group rebalance to wait for, no commits)."""
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"ctrack-tail-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        consumer.close()
        console.print(f"[red]error:[/red] topic {topic} does not exist", highlight=False)
        raise typer.Exit(code=1)
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, p, start) for p in sorted(metadata.partitions)])
    return consumer


def _ok(message: Message) -> bool:
    error = message.error()
    if error is None:
        return True
    console.print(f"[yellow]consumer:[/yellow] {error}", highlight=False)
    return False


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    return str(_jsonable(value)) if isinstance(value, date | UUID | Decimal | bytes) else str(value)
