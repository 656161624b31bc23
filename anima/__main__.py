"""`python -m anima`: the `anima` command."""

import sys

from anima.cli import main

sys.exit(main())
