"""download_model.sh fills a destination folder from a local mirror. (Where model files are looked
for: unit/test_package.py; the installed package: system/test_package.py.)"""
import hashlib
import os
import shutil
import subprocess

from tests.helpers import REPO_ROOT


def test_download_script_fills_a_destination(tmp_path):
    """SYNCNET_DEST puts the files flat in a folder, such as the cache, not in the checkout."""
    script = tmp_path / "checkout" / "download_model.sh"
    script.parent.mkdir()
    shutil.copy(REPO_ROOT / "download_model.sh", script)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    content = b"a stand-in clip\x00\n" * 10
    (mirror / "example.avi").write_bytes(content)
    env = dict(os.environ, SYNCNET_MIRROR=str(mirror), SYNCNET_ONLY="example.avi",
               SYNCNET_SHA256_EXAMPLE=hashlib.sha256(content).hexdigest(), SYNCNET_DEST=str(tmp_path / "cache"))
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cache" / "example.avi").read_bytes() == content
    assert not (tmp_path / "checkout" / "data").exists()
