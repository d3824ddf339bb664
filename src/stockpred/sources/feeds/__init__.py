"""Feeds: bars as they happen (sources/feeds/base.py)."""
