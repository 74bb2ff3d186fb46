"""Durable timers kept as table rows in time buckets: each tick costs O(items due)."""
