"""Allow ``python -m gato_ros <command>``."""

import sys

from gato_ros.cli import main

sys.exit(main())
