"""`python -m syncnet.eval` is the syncnet-eval command."""
import sys

from syncnet.cli.eval import main

sys.exit(main())
