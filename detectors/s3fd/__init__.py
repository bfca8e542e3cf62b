"""The reference's module name for S3FD (`from detectors.s3fd import S3FD`); it lives in
syncnet.detection.s3fd."""
from syncnet.detection.s3fd import S3FD

__all__ = ["S3FD"]
