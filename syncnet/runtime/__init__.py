"""Process-wide services: logging, progress bars, the compute device, the optional extras, Ray's
connection; and where this package runs from."""
from pathlib import Path

# The folder that holds the package: a checkout's root (with data/ and the reference's scripts),
# or site-packages.
CODE_ROOT = Path(__file__).resolve().parents[2]
