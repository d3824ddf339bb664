"""Monitoring: process metrics, data and model drift, realised accuracy."""
