"""``python -m infwidth`` runs the CLI."""

import sys

from infwidth.cli import main

sys.exit(main())
