"""``python -m omniq.core.cli``."""

import sys

from omniq.core.cli import main

sys.exit(main())
