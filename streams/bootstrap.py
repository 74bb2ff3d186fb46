"""Composition root of the stream worker: settings -> faust app with every agent registered."""

from __future__ import annotations

import faust

from ctrack.settings import KafkaSettings, StreamSettings
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from streams.dead_letters import DeadLetterSender
from streams.lockout.agent import register_lockout


def build_app(kafka: KafkaSettings, settings: StreamSettings, codec: AvroCodec) -> faust.App:
    """A faust app whose consumer group and changelogs are namespaced by the topic prefix."""
    topics = TopicNames(kafka.topic_prefix)
    app_id = topics.app_id(settings.app_id)
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=f"kafka://{kafka.bootstrap}",
        store="rocksdb://",  # rocksdict driver: persistent, recovers from the local copy
        datadir=str(settings.store_dir),
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        consumer_auto_offset_reset="earliest",
    )
    dead_letter_topic = app.topic(
        topics.dead_letter,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        internal=False,
    )
    register_lockout(app, topics, codec, DeadLetterSender(dead_letter_topic, codec))
    return app
