"""Weight files: the official layout round trips, bad files give one line, a model of one's own is
checked for layout, and the folded inference form equals the official modules. (The layout and
the scoring arithmetic on random tensors: unit/test_model.py.)"""
import hashlib
import os
import pickle

import pytest
import torch

from syncnet.errors import WeightsError
from SyncNetInstance import SyncNetInstance
from SyncNetModel import S


def test_official_layout_round_trips(syncnet_weights, tmp_path):
    instance = SyncNetInstance(device="cpu")
    instance.loadParameters(syncnet_weights)
    original = torch.load(syncnet_weights, weights_only=True)
    saved = tmp_path / "again.model"
    torch.save(instance.__S__.state_dict(), saved)
    again = torch.load(saved, weights_only=True)
    assert list(again) == list(original)
    for key in original:
        assert torch.equal(again[key], original[key]), key


def _load_error(path):
    with pytest.raises(WeightsError) as caught:
        SyncNetInstance(device="cpu").loadParameters(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert "download_model.sh" in message
    return message


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_bad_weight_files_give_one_line(syncnet_weights, s3fd_weights, tmp_path, monkeypatch):
    assert "not found" in _load_error(tmp_path / "missing.model")

    truncated = tmp_path / "truncated.model"
    truncated.write_bytes(syncnet_weights.read_bytes()[:4096])
    _load_error(truncated)

    assert "layout" in _load_error(s3fd_weights)

    # A flipped byte in tensor data still unpickles; in the default place the checksum catches it.
    tampered_bytes = bytearray(syncnet_weights.read_bytes())
    tampered_bytes[len(tampered_bytes) // 2] ^= 0xFF
    default_place = tmp_path / "data" / "syncnet_v2.model"
    default_place.parent.mkdir()
    default_place.write_bytes(bytes(tampered_bytes))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsError) as caught:
        SyncNetInstance(device="cpu").loadParameters(None)
    assert "checksum" in str(caught.value) and "--initial_model" in str(caught.value)
    own = tmp_path / "own.model"
    own.write_bytes(bytes(tampered_bytes))
    (tmp_path / "own.model.sha256").write_text(hashlib.sha256(syncnet_weights.read_bytes()).hexdigest() + "\n")
    assert "checksum" in _load_error(own)

    malicious = tmp_path / "malicious.model"
    with open(malicious, "wb") as handle:
        pickle.dump({"netcnnaud.0.weight": _Payload()}, handle)
    _load_error(malicious)
    assert not (tmp_path / "PWNED").exists()


def _fine_tuned(syncnet_weights, path):
    """A model of one's own: the stand-in's layout, other numbers, saved under `path`."""
    state = torch.load(syncnet_weights, weights_only=True)
    state["netfcaud.0.bias"] = state["netfcaud.0.bias"] + 0.01
    torch.save(state, path)
    return path


@pytest.mark.parametrize("name", ["syncnet_v2.model", "data/syncnet_v2.model"])
def test_a_named_model_of_ones_own_is_checked_for_layout_not_identity(name, syncnet_weights, tmp_path):
    """Only the default place holds the official file; a fine-tuned model under the official
    name, passed by path, loads, and one of the wrong layout is refused without naming a flag."""
    own = tmp_path / "runs" / name
    own.parent.mkdir(parents=True)
    _fine_tuned(syncnet_weights, own)
    instance = SyncNetInstance(device="cpu")
    instance.loadParameters(own)
    assert torch.equal(instance.__S__.state_dict()["netfcaud.0.bias"],
                       torch.load(own, weights_only=True)["netfcaud.0.bias"])
    torch.save({"netcnnaud.0.weight": torch.zeros(3)}, own)
    message = _load_error(own)
    assert "layout" in message and "--initial_model" not in message and "checksum" not in message


def test_inference_form_equals_reference_modules(syncnet_weights):
    """The folded 2D network computes what the official 3D modules compute, to float32 rounding."""
    from syncnet.models.inference import InferenceSyncNet

    model = S().eval()
    model.load_state_dict(torch.load(syncnet_weights, weights_only=True))
    fast = InferenceSyncNet(model).to("cpu")
    generator = torch.Generator().manual_seed(0)
    lips = torch.rand(3, 3, 5, 224, 224, generator=generator) * 255
    audio = torch.randn(3, 1, 13, 20, generator=generator) * 10
    with torch.inference_mode():
        for name, batch in (("forward_lip", lips), ("forward_lipfeat", lips), ("forward_aud", audio)):
            expected = getattr(model, name)(batch)
            got = getattr(fast, name)(batch)
            assert got.shape == expected.shape
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
        pixels = (torch.rand(2, 3, 5, 224, 224, generator=generator) * 255).to(torch.uint8)
        torch.testing.assert_close(fast.forward_lip(pixels), model.forward_lip(pixels.float()),
                                   rtol=1e-4, atol=1e-4)
