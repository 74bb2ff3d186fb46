"""docs/asyncapi.yaml and docs/TOPICS.md match the contract; every field has a doc."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.asyncapi import (
    ASYNCAPI_FILE,
    AVRO_SCHEMA_FORMAT,
    TOPICS_FILE,
    asyncapi_document,
    asyncapi_yaml,
    subscriber_topics,
    write_subscriber_docs,
)
from schemas.catalogue import ALL_TOPICS, TopicNames
from schemas.releases import current_definitions
from schemas.topics_page import topics_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"
REGENERATE = "stale: run `ctrack schemas docs` and commit docs/"


@pytest.mark.parametrize(
    ("name", "generate"), [(ASYNCAPI_FILE, asyncapi_yaml), (TOPICS_FILE, topics_markdown)]
)
def test_committed_docs_are_what_the_generator_produces_now(name: str, generate: Any) -> None:
    assert (DOCS / name).read_text() == generate(), f"docs/{name} is {REGENERATE}"


def test_every_field_of_every_schema_has_a_doc() -> None:
    undocumented = [
        f"{schema}.{path}"
        for schema, definition in current_definitions().items()
        for path, doc in _field_docs(definition)
        if not doc.strip()
    ]
    assert undocumented == []


def test_every_topic_is_a_channel_with_its_address_schema_and_config() -> None:
    document = yaml.safe_load((DOCS / ASYNCAPI_FILE).read_text())
    assert document["asyncapi"] == "3.0.0"
    names = TopicNames("ctrack")
    channels = document["channels"]
    assert [c["address"] for c in channels.values()] == [names.of(t) for t in subscriber_topics()]
    messages = document["components"]["messages"]
    for spec in ALL_TOPICS:
        channel = channels[spec.name]
        kafka = channel["bindings"]["kafka"]
        assert kafka["partitions"] == spec.partitions
        assert kafka["topicConfiguration"] == {
            "cleanup.policy": [spec.cleanup_policy],
            "retention.ms": spec.retention_ms,
        }
        assert channel["x-ctrack-dead-letter"] is spec.is_dead_letter
        (message_ref,) = channel["messages"].values()
        message = messages[message_ref["$ref"].rsplit("/", 1)[-1]]
        assert message["bindings"]["kafka"]["key"]["description"] == spec.key
        assert message["payload"]["schemaFormat"] == AVRO_SCHEMA_FORMAT
        assert message["payload"]["schema"] == current_definitions()[spec.value_schema]


def test_operations_reference_their_channel_messages() -> None:
    document = asyncapi_document()
    for operation in document["operations"].values():
        channel_id = operation["channel"]["$ref"].rsplit("/", 1)[-1]
        for ref in operation["messages"]:
            assert ref["$ref"].startswith(f"#/channels/{channel_id}/messages/")
            assert ref["$ref"].rsplit("/", 1)[-1] in document["channels"][channel_id]["messages"]


def test_topics_page_lists_every_topic_field_and_enum_symbol() -> None:
    page = (DOCS / TOPICS_FILE).read_text()
    names = TopicNames("ctrack")
    for spec in subscriber_topics():
        assert f"## `{names.of(spec)}`" in page
    for definition in current_definitions().values():
        for path, _ in _field_docs(definition):
            assert f"| `{path.rsplit('.', 1)[-1]}` |" in page
        for symbol in _enum_symbols(definition):
            assert f"`{symbol}`" in page


def test_the_docs_command_writes_both_files(tmp_path: Path) -> None:
    written = write_subscriber_docs(tmp_path)
    assert sorted(p.name for p in written) == sorted([ASYNCAPI_FILE, TOPICS_FILE])
    assert (tmp_path / TOPICS_FILE).read_text() == topics_markdown()


def _field_docs(schema: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, doc) of every field, nested records included."""
    if isinstance(schema, list):
        for branch in schema:
            yield from _field_docs(branch, path)
    elif isinstance(schema, dict):
        for field in schema.get("fields", ()):
            field_path = f"{path}.{field['name']}" if path else field["name"]
            yield field_path, str(field.get("doc", ""))
            yield from _field_docs(field["type"], field_path)
        for key in ("items", "values"):
            if key in schema:
                yield from _field_docs(schema[key], path)


def _enum_symbols(schema: Any) -> Iterator[str]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "enum":
                yield from node["symbols"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
