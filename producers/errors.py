"""Errors raised by producers."""

from __future__ import annotations


class ProducerError(Exception):
    """Root of every error in `producers`."""


class DeliveryError(ProducerError):
    """Records were not acknowledged by the cluster; carries Kafka's error code."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code
