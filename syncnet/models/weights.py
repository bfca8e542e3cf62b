"""Loading official state dicts safely: weights_only, checksums, and one clear line when a file is wrong."""
import hashlib
import os

import torch

from syncnet.errors import WeightsError

# What download_model.sh verifies. A file in an official file's default place must be that exact
# file: a flipped byte in tensor data still loads, so only a checksum can tell. A file the user
# names (a fine-tuned syncnet_v2.model, say) is checked for its layout only.
OFFICIAL_SHA256 = {
    "syncnet_v2.model": "961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442",
}
OFFICIAL_GIT_BLOB = {
    "sfd_face.pth": "2bdf053a994371d57f6f535cb2682dc3e2990e89",
}


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


def verify_checksum(path, name, how_to_get, official=False):
    """Check an `official` file (one found in its default place) against its official checksum,
    and any file against PATH.sha256 when there is one."""
    base = os.path.basename(path) if official else None
    expected, actual, kind = None, None, None
    if base in OFFICIAL_SHA256:
        expected, actual, kind = OFFICIAL_SHA256[base], sha256_of(path), "sha256"
    elif base in OFFICIAL_GIT_BLOB:
        expected, actual, kind = OFFICIAL_GIT_BLOB[base], git_blob_id_of(path), "git blob id"
    sidecar = path + ".sha256"
    if expected is None and os.path.isfile(sidecar):
        with open(sidecar, encoding="utf-8") as handle:
            words = handle.read().split()
        expected, actual, kind = (words[0].lower() if words else ""), sha256_of(path), "sha256"
    if expected is not None and actual != expected:
        raise WeightsError(f"{name} at {path} fails its checksum ({kind} {actual[:12]}..., expected "
                           f"{expected[:12]}...): the file is damaged or altered; {how_to_get}")


def load_state_dict(module, path, name, how_to_get, official=False):
    """Load the state dict at `path` into `module`, strictly; `name` and `how_to_get` shape the error.
    `official`: the file was found in its default place, so it must also be the official file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"{name} not found at {path}: {how_to_get}")
    verify_checksum(path, name, how_to_get, official)
    try:
        # weights_only refuses pickles that would run code while loading.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged files
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(f"{name} at {path} cannot be read safely ({reason[:160]}): "
                           f"{how_to_get}") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{name} at {path} is not a state dict: {how_to_get}")
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong_shape:
        details = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
            if keys:
                details.append(f"{len(keys)} {label} key(s) e.g. {keys[0]}")
        raise WeightsError(f"{name} at {path} does not have the expected layout "
                           f"({'; '.join(details)}): {how_to_get}")
    module.load_state_dict(state, strict=True)
    return module
