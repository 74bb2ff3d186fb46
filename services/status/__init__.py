"""A client's current status, read from the compacted client-status topic."""
