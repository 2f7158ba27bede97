"""``python -m injectq``: the same as the ``injectq`` command."""

import sys

from injectq.cli import main

if __name__ == "__main__":
    sys.exit(main())
