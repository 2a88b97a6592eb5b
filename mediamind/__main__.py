"""``python -m mediamind``: the ``mediamind`` command."""

import sys

from mediamind.cli import main

sys.exit(main())
