"""`python -m tacotron ...` (also what `torchrun -m tacotron train ...` runs)."""

import sys

from tacotron.cli import main

sys.exit(main())
