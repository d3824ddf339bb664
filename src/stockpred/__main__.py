"""``python -m stockpred``."""

import sys

from stockpred.cli.app import main

sys.exit(main())
