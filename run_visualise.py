#!/usr/bin/env python3
"""Draw each face track coloured by its sync confidence: the reference's name for syncnet-visualise."""
import sys

from syncnet.cli.visualise import main

if __name__ == "__main__":
    sys.exit(main())
