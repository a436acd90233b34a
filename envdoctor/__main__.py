"""``python -m envdoctor``: the same as the ``envdoctor`` command."""

import sys

from envdoctor.replay import main

if __name__ == "__main__":
    sys.exit(main())
