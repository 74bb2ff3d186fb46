"""Decode cost per record: `AvroCodec.decode` with the compiled reader vs fastavro alone.

Usage: .venv/bin/python bench/avro_decode.py [--records 20000]
Both are measured in the same run on the same bytes (the fullest sample record of each schema,
every optional field set); the ratio is fastavro time / compiled time. Single-threaded, so
other load on the machine shows in both columns.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from schemas.avro_reader import CompiledReader
from schemas.codec import AvroCodec
from schemas.samples import samples
from schemas.schema_set import LoadedSchema, contract_schemas

SCHEMAS = (
    "ctrack.tracking.TrackingEvent",
    "ctrack.clients.ClientEvent",
    "ctrack.delivery.DeliveryEvent",
)


class FastavroOnlyCodec(AvroCodec):
    """The codec as it was: every body read by fastavro's `schemaless_reader`."""

    def _compiled_reader(self, writer: Any, reader: LoadedSchema) -> CompiledReader | None:
        return None


def per_record_us(codec: AvroCodec, data: bytes, records: int) -> float:
    best = float("inf")
    for _ in range(3):  # best of three: the least disturbed by other load
        start = time.perf_counter()
        for _ in range(records):
            codec.decode(data)
        best = min(best, time.perf_counter() - start)
    return best / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    compiled, fastavro = AvroCodec(), FastavroOnlyCodec()
    print(f"{'schema':32} {'bytes':>5} {'fastavro µs':>12} {'compiled µs':>12} {'ratio':>6}")
    for name in SCHEMAS:
        schema = contract_schemas().get(name)
        record = max(samples(schema.parsed), key=lambda r: sum(v is not None for v in r.values()))
        data = compiled.encode(name, record, topic="bench")
        assert compiled.decode(data) == fastavro.decode(data)  # noqa: S101 - same result first
        slow = per_record_us(fastavro, data, args.records)
        fast = per_record_us(compiled, data, args.records)
        print(f"{name:32} {len(data):5} {slow:12.2f} {fast:12.2f} {slow / fast:6.2f}x")


if __name__ == "__main__":
    main()
