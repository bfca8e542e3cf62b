"""The model files, in one table: each file's name, where the official site serves it, its
checksum, and where a checkout keeps it. The weights' loader and the downloader both read it.

sfd_face.pth's checksum is its git blob id, the only digest of the official file on record: its
SHA-256 is not published, and the file is not fetched here to compute one.
"""
import dataclasses
import hashlib
import os

OFFICIAL_SITE = "www.robots.ox.ac.uk/~vgg/software/lipsync/data"


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_blob_id_of(path):
    """What `git hash-object` prints: sha1 of "blob <size>\\0" and the content."""
    digest = hashlib.sha1(b"blob %d\0" % os.path.getsize(path))
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# A digest's name, as messages show it -> (its function, its length in hex digits).
DIGESTS = {"SHA-256": (sha256_of, 64), "git blob id": (git_blob_id_of, 40)}


@dataclasses.dataclass(frozen=True)
class ModelFile:
    name: str  # the base name: on the official site, in a mirror, in the model cache
    url: str  # the official site's copy
    digest: str  # the official file's checksum, of the kind `kind`
    kind: str  # a key of DIGESTS
    override: str  # the environment variable that replaces `digest` (stand-in files, a re-released copy)
    checkout_path: str  # where a checkout keeps it, relative to its root

    def digest_of(self, path):
        return DIGESTS[self.kind][0](path)

    @property
    def digest_length(self):
        return DIGESTS[self.kind][1]


MODEL_FILES = {spec.name: spec for spec in (
    ModelFile("syncnet_v2.model", f"http://{OFFICIAL_SITE}/syncnet_v2.model",
              "961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442", "SHA-256",
              "SYNCNET_SHA256_SYNCNET", "data/syncnet_v2.model"),
    ModelFile("example.avi", f"http://{OFFICIAL_SITE}/example.avi",
              "1724121b3a50141cfc9e77c034f7de914024d015b92762ae12d3e1a7151b8621", "SHA-256",
              "SYNCNET_SHA256_EXAMPLE", "data/example.avi"),
    ModelFile("sfd_face.pth", f"https://{OFFICIAL_SITE}/sfd_face.pth",
              "2bdf053a994371d57f6f535cb2682dc3e2990e89", "git blob id",
              "SYNCNET_GITBLOB_SFD", "detectors/s3fd/weights/sfd_face.pth"),
)}
