#!/usr/bin/env python3
"""Save SyncNet's 512-d lip features of a face video: the reference's name for syncnet-feature."""
import sys

from syncnet.cli.feature import main

if __name__ == "__main__":
    sys.exit(main())
