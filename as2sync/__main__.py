import sys

from as2sync.cli import main

sys.exit(main())
