"""``python -m physopt.cli`` is the ``physopt`` command."""

import sys

from . import main

sys.exit(main())
