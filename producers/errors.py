"""Errors raised by producers."""

from __future__ import annotations

from confluent_kafka import KafkaError


class ProducerError(Exception):
    """Root of every error in `producers`."""


class MissingKeyError(ProducerError, ValueError):
    """A record was sent without a key; every record needs one for its partition and order."""


class DeliveryError(ProducerError):
    """Records were not acknowledged by the cluster; carries Kafka's error code.

    `code` is the error's name (`UNKNOWN_TOPIC_OR_PART`, `_MSG_TIMED_OUT`, ...); `retriable`
    says trying again may succeed; `fatal` says this producer can send nothing more.
    """

    def __init__(
        self, message: str, code: str | None = None, *, retriable: bool = False, fatal: bool = False
    ):
        super().__init__(message)
        self.code = code
        self.retriable = retriable
        self.fatal = fatal

    @classmethod
    def of(cls, error: KafkaError, message: str) -> DeliveryError:
        """A DeliveryError describing a librdkafka `KafkaError`."""
        return cls(
            f"{message}: {error.name()} ({error.str()})",
            code=error.name(),
            retriable=error.retriable(),
            fatal=error.fatal(),
        )
