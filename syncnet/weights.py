"""Loading official state dicts safely: weights_only, and one clear line when the file is wrong."""
import os

import torch

from .errors import WeightsError


def load_state_dict(module, path, name, how_to_get):
    """Load the state dict at `path` into `module`, strictly; `name` and `how_to_get` shape the error."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"{name} not found at {path}: {how_to_get}")
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
