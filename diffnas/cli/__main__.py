"""``python -m diffnas.cli``: the ``diffnas`` command."""

import sys

from diffnas.cli import main

sys.exit(main())
