"""Notifications: alerts, reports and webhooks for trading platforms."""
