"""Firm settings on every worker (global table), read by the rules."""
