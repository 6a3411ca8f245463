"""``python -m rlgen`` is the ``rlgen`` command."""

import sys

from rlgen.cli import main

sys.exit(main())
