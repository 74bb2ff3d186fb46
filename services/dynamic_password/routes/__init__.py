"""Thin HTTP routes of the dynamic password service: firm side, client side, operations."""
