"""Loading the two networks: SyncNet (scoring) and S3FD (face detection), from their official files."""
from syncnet.runtime.devices import resolve_device
from syncnet.models.paths import OFFLINE_HINT, find_s3fd_weights, find_syncnet_model
from syncnet.models.weights import load_state_dict

HOW_TO_GET_SYNCNET = f"run `bash download_model.sh` to fetch the official syncnet_v2.model, {OFFLINE_HINT}"


def load_syncnet_weights(module, path=None):
    """Load the official syncnet_v2.model (or `path`) into a SyncNetModel.S, strictly and safely."""
    return load_state_dict(module, find_syncnet_model(path), "SyncNet model", HOW_TO_GET_SYNCNET)


def load_syncnet(path=None, device="auto"):
    """The scoring network: SyncNet's weights in the faster, equivalent InferenceSyncNet form."""
    from SyncNetModel import S

    from syncnet.models.inference import InferenceSyncNet

    device = resolve_device(device)
    module = load_syncnet_weights(S(), path).eval()
    return InferenceSyncNet(module).to(device)


def load_s3fd(path=None, device="auto"):
    """The S3FD face detector with the official sfd_face.pth (or `path`)."""
    from detectors import S3FD

    return S3FD(device=device, weights=find_s3fd_weights(path))
