"""``python -m gler`` runs the command line."""

import sys

from gler.cli import main

sys.exit(main())
