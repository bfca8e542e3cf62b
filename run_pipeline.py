#!/usr/bin/env python3
"""Find and crop the face tracks of a video: the reference's name for syncnet-pipeline."""
import sys

from syncnet.cli.pipeline import main

if __name__ == "__main__":
    sys.exit(main())
