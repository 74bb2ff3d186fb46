"""The tracking query API: a firm's timelines, client history and engagement over HTTP."""
