#!/usr/bin/env python3
"""Score every face track of a pipeline run: the reference's name for syncnet-score."""
import sys

from syncnet.cli.score import main

if __name__ == "__main__":
    sys.exit(main())
