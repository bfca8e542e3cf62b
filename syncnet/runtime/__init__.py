"""Process-wide services: logging, progress bars, the compute device."""
