"""Records handed to agents as the bytes on the wire, without faust's codec registry.

An agent's sources are raw (bytes in, bytes out: the agent decodes Avro itself), yet faust's
`Schema.compile` still runs every key and value through the serializer registry: a codec lookup,
a `raw` codec call and a payload check each, about a twentieth of the worker's CPU. For raw
topics those steps return their input, so this schema builds the event from the message as is.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.types import AppT, Message


class RawRecords(faust.Schema[bytes, bytes]):
    """Key and value exactly as consumed (None stays None), like `key_serializer="raw"`."""

    def __init__(self) -> None:
        super().__init__(
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    def compile(self, app: AppT, **_error_handlers: Any) -> Any:
        """The decode faust calls per record: no decode errors are possible, so the error
        handlers are never needed."""
        event_type: Any = app.conf.Event

        async def decode(message: Message, *, propagate: bool = False) -> Any:
            return event_type(app, message.key, message.value, message.headers, message)

        return decode
