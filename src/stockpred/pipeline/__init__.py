"""Use cases that tie sources, quality checks and the store together."""
