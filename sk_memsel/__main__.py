"""Run the sk-memsel command line: ``python -m sk_memsel``."""

import sys

from ._cli import main

sys.exit(main())
