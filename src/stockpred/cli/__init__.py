"""The ``stockpred`` command line."""
