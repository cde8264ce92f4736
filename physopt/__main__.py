"""``python -m physopt`` is the ``physopt`` command."""

import sys

from ._cli import main

sys.exit(main())
