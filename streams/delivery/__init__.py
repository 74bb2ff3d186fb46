"""Delivery roll-up: the latest status per message, and alerts when a client got nothing."""
