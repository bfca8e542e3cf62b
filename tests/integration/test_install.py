"""The commands as a fresh interpreter starts them: `import syncnet` and each console command's
--help load none of the heavy libraries. (The extras and their one-line messages:
unit/test_install.py.)"""
import json
import subprocess
import sys

import pytest

from syncnet.runtime import extras
from tests.helpers import PYPROJECT, REPO_ROOT

# What a --help or `import syncnet` must not pay for (seconds each on a loaded machine): the
# networks' libraries and every extra's.
HEAVY = ("torch", "cv2", *sorted({module for modules in extras.MODULES.values() for module in modules}))
COMMANDS = sorted(PYPROJECT["project"]["scripts"].items())
PROBE = """
import json, sys, importlib, contextlib, io
target = {target!r}
if target == "syncnet":
    import syncnet
else:
    module, function = target.split(":")
    sys.argv = [{name!r}, "--help"]
    with contextlib.redirect_stdout(io.StringIO()) as shown:
        try:
            getattr(importlib.import_module(module), function)()
        except SystemExit as done:
            assert done.code == 0, done.code
    assert "usage:" in shown.getvalue()
print(json.dumps(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


@pytest.mark.parametrize("name, target", [("import syncnet", "syncnet"), *COMMANDS])
def test_help_and_import_start_without_torch_ray_or_cv2(name, target):
    result = subprocess.run([sys.executable, "-c", PROBE.format(target=target, name=name, heavy=HEAVY)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []
