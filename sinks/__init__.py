"""Sinks: move events from Kafka into storage."""
