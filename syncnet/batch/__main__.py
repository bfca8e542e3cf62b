"""`python -m syncnet.batch` is the syncnet-batch command."""
import sys

from syncnet.cli.batch import main

sys.exit(main())
