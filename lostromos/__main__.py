import sys

from lostromos.cli import main

sys.exit(main())
