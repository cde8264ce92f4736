"""``python -m physopt`` is the ``physopt`` command."""

import sys

from .cli import main

sys.exit(main())
