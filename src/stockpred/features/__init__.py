"""Features: indicator kernels (batch and incremental), feature-set specs, point-in-time panels.

Pure: imports only ``stockpred.domain``. Built in the features issue.
"""
