"""Errors raised by stream processors."""

from __future__ import annotations


class StreamError(Exception):
    """Root of every error in `streams`."""


class UnexpectedRecordError(StreamError):
    """A topic carried a record of a schema this processor does not read."""


class IllegalTransitionError(StreamError):
    """The event is not allowed in the subject's current state; it was not applied."""
