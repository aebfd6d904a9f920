"""``python -m functionfuse_cli``: the ``fuse`` command without its script."""

import sys

from functionfuse_cli._cli import main

sys.exit(main())
