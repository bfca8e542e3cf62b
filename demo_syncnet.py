#!/usr/bin/env python3
"""Score the audio-visual sync of one cropped face video: the reference's name for syncnet-demo."""
import sys

from syncnet.cli.demo import main

if __name__ == "__main__":
    sys.exit(main())
