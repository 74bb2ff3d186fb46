"""Schema evolution: the committed release passes, breaking changes are named, old data decodes."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_reader, schemaless_writer

from schemas import tracking
from schemas.codec import AvroCodec
from schemas.errors import UnknownSchemaError
from schemas.evolution import Direction, Problem, ProblemKind, check_compatibility
from schemas.releases import (
    Definition,
    Release,
    current_definitions,
    load_releases,
    next_release,
    write_release,
)
from schemas.samples import samples
from schemas.schema_set import (
    AVRO_DIR,
    contract_schemas,
    from_definition,
    schema_set,
)
from tests.factories import tracking_event

T = tracking.TrackingEventType
TRACKING = tracking.SCHEMA_NAME
Change = Callable[[Definition], None]


def field(definition: Definition, name: str) -> dict[str, Any]:
    return next(f for f in definition["fields"] if f["name"] == name)


def failure_reason_enum(definition: Definition) -> dict[str, Any]:
    enum: dict[str, Any] = field(definition, "failure_reason")["type"][1]
    return enum


def evolve(change: Change, base: dict[str, Definition] | None = None) -> dict[str, Definition]:
    """A copy of the schema set (current by default) with TrackingEvent changed."""
    evolved = copy.deepcopy(base if base is not None else current_definitions())
    change(evolved[TRACKING])
    return evolved


def problems_of(change: Change, base: dict[str, Definition] | None = None) -> list[Problem]:
    released = copy.deepcopy(base if base is not None else current_definitions())
    return check_compatibility(evolve(change, released), [Release(1, released)])


def test_the_committed_schemas_are_compatible_with_every_release() -> None:
    releases = load_releases()
    assert releases, "schemas/released/ holds no release"
    assert check_compatibility(current_definitions(), releases) == []


def test_every_current_schema_was_released() -> None:
    """A schema changed without a release: its writers would be unknown once it changes again."""
    unreleased = next_release(current_definitions(), load_releases())
    assert unreleased is None, f"run `ctrack schemas release` (would write v{unreleased.version})"


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["fields"].append({"name": "new", "type": ["null", "string"], "default": None}),
        lambda d: d["fields"].remove(field(d, "detail")),  # optional: v1 declares a default
        lambda d: failure_reason_enum(d)["symbols"].append("LOCKED_OUT"),  # enum has a default
        lambda d: field(d, "kba_round").update(doc="Reworded doc."),
    ],
    ids=["optional-field-added", "optional-field-removed", "symbol-on-enum-with-default", "doc"],
)
def test_compatible_changes_pass(change: Change) -> None:
    assert problems_of(change) == []


def test_a_field_added_without_default_is_a_backward_problem() -> None:
    problems = problems_of(lambda d: d["fields"].append({"name": "office", "type": "string"}))
    assert [(p.direction, p.kind, p.path) for p in problems] == [
        (Direction.BACKWARD, ProblemKind.FIELD_ADDED_WITHOUT_DEFAULT, "TrackingEvent.office")
    ]
    assert "added without a default" in problems[0].message


def test_a_required_field_removed_is_a_forward_problem() -> None:
    problems = problems_of(lambda d: d["fields"].remove(field(d, "firm_id")))
    assert [(p.direction, p.kind) for p in problems] == [
        (Direction.FORWARD, ProblemKind.FIELD_REMOVED_WITHOUT_DEFAULT)
    ]


def test_an_enum_symbol_added_to_an_enum_without_default_is_a_forward_problem() -> None:
    without_default = evolve(lambda d: failure_reason_enum(d).pop("default"))
    problems = problems_of(
        lambda d: failure_reason_enum(d)["symbols"].append("LOCKED_OUT"), without_default
    )
    assert [(p.direction, p.kind) for p in problems] == [
        (Direction.FORWARD, ProblemKind.ENUM_SYMBOL_WITHOUT_DEFAULT)
    ]
    assert "LOCKED_OUT" in problems[0].message


@pytest.mark.parametrize(
    ("field_name", "new_type"),
    [("kba_round", ["null", "string"]), ("firm_id", "int"), ("event_id", "string")],
    ids=["int-to-string-in-union", "string-to-int", "uuid-to-plain-string"],
)
def test_a_type_change_that_is_no_promotion_is_a_problem(field_name: str, new_type: Any) -> None:
    problems = problems_of(lambda d: field(d, field_name).update(type=new_type))
    assert problems
    assert {p.kind for p in problems} == {ProblemKind.TYPE_CHANGED}
    assert all(p.path == f"TrackingEvent.{field_name}" for p in problems)


def test_int_to_long_is_a_promotion_for_new_readers_only() -> None:
    """New readers read old ints as longs; a v1 reader cannot take a long, which we report."""
    problems = problems_of(lambda d: field(d, "kba_round").update(type=["null", "long"]))
    assert [p for p in problems if p.direction is Direction.BACKWARD] == []
    assert [(p.direction, p.kind) for p in problems] == [
        (Direction.FORWARD, ProblemKind.TYPE_WIDENED)
    ]


def test_a_released_schema_may_not_disappear() -> None:
    released = current_definitions()
    current = {name: d for name, d in released.items() if name != TRACKING}
    problems = check_compatibility(current, [Release(1, released)])
    assert [(p.schema, p.kind) for p in problems] == [(TRACKING, ProblemKind.SCHEMA_REMOVED)]


def test_samples_cover_every_enum_symbol_union_branch_and_logical_type() -> None:
    parsed = from_definition(current_definitions()[TRACKING]).parsed
    records = samples(parsed)
    assert records == samples(parsed)  # deterministic
    assert {r["event_type"] for r in records} == {t.value for t in T}
    assert {r["failure_reason"] for r in records} == {None} | set(tracking.AuthFailureReason)
    assert {type(r["kba_round"]) for r in records} == {type(None), int}
    for record in records:  # every sample encodes and decodes with its own schema
        body = io.BytesIO()
        schemaless_writer(body, parsed, record)
        body.seek(0)
        assert schemaless_reader(body, parsed, None)["event_type"] == record["event_type"]


def test_samples_include_empty_and_filled_arrays() -> None:
    lifecycle = current_definitions()["ctrack.returns.ReturnLifecycleEvent"]
    dates = [r["voucher_due_dates"] for r in samples(from_definition(lifecycle).parsed)]
    assert [] in dates and any(dates)


def test_a_release_is_written_once_and_only_when_something_changed(tmp_path: Path) -> None:
    current = current_definitions()
    first = next_release(current, [])
    assert first is not None and first.version == 1
    path = write_release(first, tmp_path)
    assert json.loads(path.read_text()) == {"version": 1, "schemas": current}
    assert next_release(current, load_releases(tmp_path)) is None
    changed = next_release(evolve(lambda d: d.update(doc="New doc.")), load_releases(tmp_path))
    assert changed is not None and changed.version == 2
    with pytest.raises(FileExistsError):
        write_release(first, tmp_path)


def test_the_contract_indexes_every_released_writer() -> None:
    schemas = contract_schemas()
    for release in load_releases():
        for definition in release.schemas.values():
            assert from_definition(definition).fingerprint in schemas.by_fingerprint
    assert contract_schemas() is schemas  # parsed once per process


def test_the_codec_decodes_a_record_written_with_an_older_release(tmp_path: Path) -> None:
    """A release whose TrackingEvent lacked kba_round and a symbol still decodes today."""

    def older(definition: Definition) -> None:
        definition["fields"].remove(field(definition, "kba_round"))
        failure_reason_enum(definition)["symbols"].remove("EXPIRED_ACCESS_CODE")

    (tmp_path / "released").mkdir()
    write_release(Release(1, evolve(older)), tmp_path / "released")
    evolved = contract_schemas.__wrapped__(AVRO_DIR, tmp_path / "released")
    old_writer = from_definition(evolve(older)[TRACKING])
    assert evolved.by_fingerprint[old_writer.fingerprint].canonical == old_writer.canonical
    assert evolved.by_name[TRACKING].source == contract_schemas().by_name[TRACKING].source

    event = tracking_event(T.AUTHENTICATION_FAILED, detail="3rd try")
    old_record = {k: v for k, v in tracking.to_record(event).items() if k != "kba_round"}
    old_bytes = AvroCodec(schemas=schema_set([old_writer])).encode(
        TRACKING, old_record, topic="ctrack.tracking"
    )
    assert old_bytes[2:10] == old_writer.fingerprint
    decoded = AvroCodec(schemas=evolved).decode(old_bytes)
    assert tracking.from_record(decoded.record) == event
    with pytest.raises(UnknownSchemaError):
        AvroCodec(schemas=schema_set(list(contract_schemas().by_name.values()))).decode(old_bytes)
