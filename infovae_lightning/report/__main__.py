"""`python -m infovae_lightning.report <sweep dir> [--out DIR]`."""

import sys

from infovae_lightning.report.cli import main

sys.exit(main())
