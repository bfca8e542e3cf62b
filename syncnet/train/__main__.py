"""`python -m syncnet.train` (and `torchrun -m syncnet.train`) is the syncnet-train command."""
import sys

from syncnet.cli.train import main

sys.exit(main())
