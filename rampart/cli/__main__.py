"""``python -m rampart.cli``: the same as the ``rampart`` command."""

import sys

from rampart.cli import main

sys.exit(main())
