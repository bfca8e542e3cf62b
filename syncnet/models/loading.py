"""Loading SyncNet, the scoring network, from its official file (a face detector loads through
syncnet.detection)."""
from syncnet.models.paths import OFFLINE_HINT, find_syncnet_model, is_default_syncnet, named_file_hint
from syncnet.models.weights import load_state_dict
from syncnet.runtime.devices import resolve_device

HOW_TO_GET_SYNCNET = f"run `bash download_model.sh` to fetch the official syncnet_v2.model, {OFFLINE_HINT}"


def load_syncnet_weights(module, path=None):
    """Load the official syncnet_v2.model (or `path`) into a syncnet.models.network.S, strictly and safely.

    The file in the default place must be the official one (its checksum); a file named by
    `path` (a fine-tuned model, whatever its name) must have the network's layout."""
    official = is_default_syncnet(path)
    how_to_get = HOW_TO_GET_SYNCNET if official else named_file_hint("SyncNet", "syncnet_v2.model")
    return load_state_dict(module, find_syncnet_model(path), "SyncNet model", how_to_get, official)


def load_syncnet(path=None, device="auto"):
    """The scoring network: SyncNet's weights in the faster, equivalent InferenceSyncNet form."""
    from syncnet.models.inference import InferenceSyncNet
    from syncnet.models.network import S

    device = resolve_device(device)
    module = load_syncnet_weights(S(), path).eval()
    return InferenceSyncNet(module).to(device)

