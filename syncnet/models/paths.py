"""Where the model files are: the reference's places, else a per-user cache.

An installed command runs from any folder, where the reference's relative default
`data/syncnet_v2.model` does not exist. Default model paths are therefore looked up in
turn: as given (relative to the current folder), beside the code, then in the cache
folder `$SYNCNET_CACHE`, else `$XDG_CACHE_HOME/syncnet`, else `~/.cache/syncnet`.
"""
import os
from pathlib import Path

from syncnet.errors import WeightsError
from syncnet.models.files import MODEL_FILES
from syncnet.runtime import CODE_ROOT

SYNCNET_DEFAULT = MODEL_FILES["syncnet_v2.model"].checkout_path
# Where every "model not found" message sends a user without internet access.
OFFLINE_HINT = ("or offline: see 'Offline' in README.md (SYNCNET_MIRROR=FOLDER_OR_URL bash download_model.sh, "
                "--initial_model / --s3fd_model PATH, score_video(syncnet_model=PATH))")


def named_file_hint(network, official_name):
    """What a failure says about a model file the user named: no flag to pass (they passed it)."""
    return (f"check the path; it must be a {network} state dict with the layout of the official {official_name} "
            "(`bash download_model.sh` fetches that one)")




def cache_dir():
    """$SYNCNET_CACHE, else $XDG_CACHE_HOME/syncnet, else ~/.cache/syncnet."""
    configured = os.environ.get("SYNCNET_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(base).expanduser() / "syncnet"


def _first_existing(candidates, name):
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.fspath(candidate)
    looked = ", ".join(os.fspath(c) for c in candidates)
    raise WeightsError(f"{name} not found (looked in {looked}): run `bash download_model.sh` in a "
                       f"checkout, or `SYNCNET_DEST={cache_dir()} bash download_model.sh` to fill the cache, "
                       f"{OFFLINE_HINT}")


def _in_checkout():
    """True when the code runs from a checkout (which has data/), not from site-packages."""
    return (CODE_ROOT / "download_model.sh").is_file()


def is_default_syncnet(path):
    """True when `path` is the default model place (None, or the reference's data/syncnet_v2.model),
    which holds the official file and nothing else."""
    return path is None or os.path.normpath(os.fspath(path)) == os.path.normpath(SYNCNET_DEFAULT)


def find_syncnet_model(path=None):
    """`path` itself, unless it is the missing default: then the checkout's copy, then the cache's."""
    path = os.fspath(path) if path is not None else SYNCNET_DEFAULT
    if os.path.exists(path) or os.path.normpath(path) != os.path.normpath(SYNCNET_DEFAULT):
        return path
    beside_code = [CODE_ROOT / SYNCNET_DEFAULT] if _in_checkout() else []
    return _first_existing([path, *beside_code, cache_dir() / "syncnet_v2.model"],
                           "SyncNet model syncnet_v2.model")


def find_official_file(name, what):
    """The official model file `name`: in its place in a checkout (files.MODEL_FILES' row, where the
    reference keeps it and download_model.sh writes it), then in the cache. `what` names it in the error."""
    spec = MODEL_FILES.get(name)
    beside_code = [CODE_ROOT / spec.checkout_path] if spec and _in_checkout() else []
    return _first_existing([*beside_code, cache_dir() / name], f"{what} {name}")


def download_place(spec):
    """Where the downloader puts a model file (a files.ModelFile) by default: its place in a
    checkout, else the model cache, where an installed package looks for it."""
    return CODE_ROOT / spec.checkout_path if _in_checkout() else cache_dir() / spec.name
