"""`python -m syncnet.monitor` is the syncnet-monitor command."""
import sys

from syncnet.cli.monitor import main

sys.exit(main())
