"""Where model files are looked for: the cache folder from the environment, and the SyncNet model's
and the detector's weights' places in order. (The download: integration/test_download.py; the
installed package: system/test_package.py.)"""
import re

import pytest

from syncnet.detection import get_detector
from syncnet.errors import WeightsError
from syncnet.models.paths import cache_dir, find_syncnet_model


def test_cache_folder_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNCNET_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("SYNCNET_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "syncnet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "syncnet"


def test_syncnet_model_lookup(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYNCNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("syncnet.models.paths.CODE_ROOT", tmp_path / "site")
    given = tmp_path / "given.model"
    assert find_syncnet_model(given) == str(given), "a path that is not the default is used as given"

    (tmp_path / "site").mkdir()
    with pytest.raises(WeightsError) as error:
        find_syncnet_model()
    message = str(error.value)
    assert "\n" not in message and "download_model.sh" in message and "Offline" in message
    assert str(tmp_path / "site") not in message, "an installed package has no data/ beside its code"
    (tmp_path / "site" / "download_model.sh").write_text("")  # now it is a checkout
    with pytest.raises(WeightsError) as error:
        find_syncnet_model()
    message = str(error.value)
    for place in ("data/syncnet_v2.model", str(tmp_path / "site" / "data" / "syncnet_v2.model"),
                  str(tmp_path / "cache" / "syncnet_v2.model")):
        assert place in message

    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "syncnet_v2.model").write_bytes(b"x")
    assert find_syncnet_model() == str(tmp_path / "cache" / "syncnet_v2.model")
    (tmp_path / "site" / "data").mkdir(parents=True)
    (tmp_path / "site" / "data" / "syncnet_v2.model").write_bytes(b"x")
    assert find_syncnet_model("./data/syncnet_v2.model") == str(tmp_path / "site" / "data" / "syncnet_v2.model")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "syncnet_v2.model").write_bytes(b"x")
    assert find_syncnet_model() == "data/syncnet_v2.model", "the reference's place comes first"


def test_detector_weights_lookup(monkeypatch, tmp_path):
    """A detector's official weights: in its folder of a checkout, then in the cache."""
    find = get_detector("s3fd").find_weights
    monkeypatch.setenv("SYNCNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("syncnet.models.paths.CODE_ROOT", tmp_path / "site")
    assert find("mine.pth") == "mine.pth"
    (tmp_path / "site").mkdir()
    with pytest.raises(WeightsError) as error:
        find()
    assert str(tmp_path / "cache" / "sfd_face.pth") in str(error.value)
    assert str(tmp_path / "site") not in str(error.value), "an installed package has no detectors/ beside its code"
    (tmp_path / "site" / "download_model.sh").write_text("")  # now it is a checkout
    beside = tmp_path / "site" / "detectors" / "s3fd" / "weights" / "sfd_face.pth"
    with pytest.raises(WeightsError, match=re.escape(str(beside))):
        find()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "sfd_face.pth").write_bytes(b"x")
    assert find() == str(tmp_path / "cache" / "sfd_face.pth")
    beside.parent.mkdir(parents=True)
    beside.write_bytes(b"x")
    assert find() == str(beside), "the checkout's copy comes first"
