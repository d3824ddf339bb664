"""Adapters that bring data in: packaged sample data, files, and (later) provider APIs."""
