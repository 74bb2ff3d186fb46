"""Where each consumed topic's records go: the schema they must have, its table, its fast path."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.catalogue import ALL_TOPICS, TopicNames
from schemas.schema_set import contract_schemas
from sinks.clickhouse.avro_frames import field_names, frame_schema, text_fields
from sinks.clickhouse.avro_loading import FrameFormat, frame_columns_fit
from sinks.clickhouse.decoding import PlainDecoder
from sinks.clickhouse.tables import TABLE_OF_SCHEMA, Table


@dataclass(frozen=True)
class Route:
    """One topic's records: the schema they must have, their table, and the fast path."""

    schema_name: str
    table: Table
    compacted: bool  # a null value is a tombstone: nothing to store
    frames: FrameFormat | None  # values with its header are decoded by ClickHouse

    @property
    def frames_format(self) -> FrameFormat:
        """The fast path of a route known to have one."""
        assert self.frames is not None  # noqa: S101 - asked only of fast-path routes
        return self.frames


def routes(prefix: str, decoder: PlainDecoder, fast_path: bool = True) -> dict[str, Route]:
    """The route of every catalogue topic whose schema has a table (the internal clock has
    none), by topic name under `prefix`; `fast_path=False`: every record decoded in Python."""
    names = TopicNames(prefix)
    return {
        names.of(spec): Route(
            spec.value_schema,
            TABLE_OF_SCHEMA[spec.value_schema],
            spec.cleanup_policy == "compact",
            frame_format(decoder, spec.value_schema) if fast_path else None,
        )
        for spec in ALL_TOPICS
        if spec.value_schema in TABLE_OF_SCHEMA
    }


def frame_format(decoder: PlainDecoder, schema_name: str) -> FrameFormat | None:
    """The fast path of a schema, when its table can take the frames ClickHouse reads
    (registry wire-format records never match its header: they take the Python path)."""
    header = decoder.current_header(schema_name)
    table = TABLE_OF_SCHEMA[schema_name]
    if header is None:
        return None
    source = contract_schemas().get(schema_name).source
    if not frame_columns_fit(table, field_names(source)):
        return None
    texts = tuple(name for name in table.columns if name in text_fields(source))
    return FrameFormat(table, header, frame_schema(source, len(header)), texts)
