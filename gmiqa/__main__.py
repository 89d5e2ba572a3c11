"""``python -m gmiqa``: the same as the ``gmiqa`` command (see :mod:`gmiqa.cli`)."""

import sys

from gmiqa.cli import main

sys.exit(main())
