"""Shared code of the season benchmark and its fault runs (bench/season.py, bench/faults.py)."""
