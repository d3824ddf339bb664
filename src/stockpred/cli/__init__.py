"""The ``stockpred`` command line."""

import warnings

# With the spark extra installed, pandera imports pyspark.pandas, which warns on every command
# that it has not vouched for pandas 3. The Spark engine's equality test is what vouches for the
# values we compute; a user should not read that warning before each command's output.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)
