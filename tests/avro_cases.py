"""What the compiled Avro writer's and reader's tests both use: the schemas to prove them on
and the hypothesis strategies of plain values."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone, tzinfo

from hypothesis import strategies as st

from schemas.schema_set import LoadedSchema, contract_schemas

CURRENT = list(contract_schemas().by_name.values())
# Current and every released version: code compiled from any of them must be exact.
EVERY_VERSION = list(
    {s.fingerprint: s for s in [*CURRENT, *contract_schemas().by_fingerprint.values()]}.values()
)


def schema_id(schema: LoadedSchema) -> str:
    return f"{schema.full_name}@{schema.fingerprint.hex()[:6]}"


def _long_text(character: str, length: int) -> str:
    return character * length


VALID_CHARACTERS = st.characters(exclude_categories=["Cs"])  # a lone surrogate has no UTF-8
TEXT = st.text(VALID_CHARACTERS, max_size=30) | st.builds(
    _long_text, VALID_CHARACTERS, st.integers(0, 10_000)
)
ZONES: st.SearchStrategy[tzinfo] = (
    st.just(UTC)
    | st.timezones()
    | st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23)))
)
