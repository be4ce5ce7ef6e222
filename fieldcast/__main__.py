"""``python -m fieldcast`` is the ``fieldcast`` command."""

import sys

from fieldcast.app.cli import main

sys.exit(main())
