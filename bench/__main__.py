"""``python -m bench`` → the robex CLI."""

import sys

from bench.cli import main

sys.exit(main())
