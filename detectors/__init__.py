"""The reference's package name for the face detector, for code written against it
(`from detectors import S3FD`); the detectors live in syncnet.detection. Its folder
detectors/s3fd/weights/ stays where a checkout keeps sfd_face.pth."""
from syncnet.detection.s3fd import S3FD

__all__ = ["S3FD"]
