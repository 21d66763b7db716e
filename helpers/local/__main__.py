"""``python -m helpers.local`` is ``python -m localaws`` (kept for older notes and habits)."""

import sys

from localaws.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
