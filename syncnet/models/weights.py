"""Loading official state dicts safely: weights_only, checksums, and one clear line when a file is wrong."""
import os

import torch

from syncnet.errors import WeightsError
from syncnet.models.files import MODEL_FILES, sha256_of


def verify_checksum(path, name, how_to_get, official=False):
    """Check an `official` file (one found in its default place) against its official checksum
    (MODEL_FILES), and any file against PATH.sha256 when there is one.

    A file in an official file's default place must be that exact file: a flipped byte in tensor
    data still loads, so only a checksum can tell. A file the user names (a fine-tuned
    syncnet_v2.model, say) is checked for its layout only."""
    spec = MODEL_FILES.get(os.path.basename(path)) if official else None
    expected, actual, kind = None, None, None
    if spec is not None:
        expected, actual, kind = spec.digest, spec.digest_of(path), spec.kind
    sidecar = path + ".sha256"
    if expected is None and os.path.isfile(sidecar):
        with open(sidecar, encoding="utf-8") as handle:
            words = handle.read().split()
        expected, actual, kind = (words[0].lower() if words else ""), sha256_of(path), "SHA-256"
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
