"""A return's Client Tracking timeline."""
