"""Stream processing: incremental features and predictions on live or replayed ticks."""
