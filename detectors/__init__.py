"""Face detectors used by the pipeline (only S3FD, as in the reference)."""
from syncnet.detection.s3fd import S3FD

__all__ = ["S3FD"]
