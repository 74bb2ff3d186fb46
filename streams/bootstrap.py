"""Composition root of the stream worker: settings -> faust app with every agent registered."""

from __future__ import annotations

import asyncio
import sys

import faust

from ctrack.settings import KafkaSettings, StreamSettings
from schemas.catalogue import JOURNAL_MAX_BYTES, TopicNames
from schemas.codec import AvroCodec
from streams.agent_crash import end_worker_on_crash
from streams.batches import BatchLimits
from streams.client_status.agent import register_client_status
from streams.delivery.agent import register_delivery
from streams.firms.agent import register_firm_settings
from streams.outbox import Outbox
from streams.prompt_fetch import use_fetch_wait
from streams.returns.agent import register_returns
from streams.sends import Sends, worker_producer_config
from streams.table_store import (
    SharedMemory,
    log_usage,
    store_options,
    tables_with_store_options,
)
from streams.timers.clock import register_clock


def build_app(kafka: KafkaSettings, settings: StreamSettings, codec: AvroCodec) -> faust.App:
    """A faust app whose consumer group and changelogs are namespaced by the topic prefix."""
    if settings.uvloop:
        use_uvloop()  # before faust or the consumer thread make their loops
    names = TopicNames(kafka.topic_prefix)
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        names.app_id(settings.app_id),
        broker=f"kafka://{kafka.bootstrap}",
        store="rocksdb://",  # rocksdict driver: persistent, recovers from the local copy
        datadir=str(settings.store_dir),
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,
        producer_linger=settings.producer_linger_s,
        producer_max_batch_size=262_144,
        # a batch's journal record is one record (see streams/journal.py)
        producer_max_request_size=JOURNAL_MAX_BYTES,
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        consumer_auto_offset_reset="earliest",
        # aiokafka only rebalances when it sees new metadata; a short refresh means an
        # assignment made from a stale view of the cluster heals in seconds, not minutes.
        consumer_metadata_max_age_ms=10_000,
        # faust's Cython stream iterator takes events already queued without awaiting the
        # channel, and the conductor decodes a record once for all its channels (raw here).
        cython_optimizations=True,
        stream_buffer_maxsize=16_384,
    )
    store_memory = SharedMemory(settings.store_block_cache_bytes, settings.store_memtable_bytes)
    # before any table is made
    tables_with_store_options(app, store_options(settings), store_memory)
    log_usage(app, store_memory, every_s=60.0)
    end_worker_on_crash(app)  # before the agents are declared: each takes it as its on_error
    use_fetch_wait(app, settings.fetch_max_wait_ms)
    sends = Sends(app, worker_producer_config(kafka, settings.producer_linger_s))
    outbox = Outbox(app, names, codec, kafka.max_record_bytes, sends)
    limits = BatchLimits(
        settings.batch_max_events, settings.batch_gather_s, settings.timers_per_tick
    )
    firms = register_firm_settings(app, outbox)
    register_client_status(app, outbox, firms, limits)
    register_returns(app, outbox, firms, limits)
    register_delivery(app, outbox, limits)
    if settings.clock == "wall":
        register_clock(app, outbox, settings.tick_interval_s)
    return app


def use_uvloop() -> None:
    """Loops made from now on (the worker's and its consumer thread's) are uvloop's."""
    if sys.platform != "win32":  # uvloop is not installed there (see pyproject.toml)
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
