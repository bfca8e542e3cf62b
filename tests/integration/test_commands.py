"""Every command still starts under each of its names: the reference's scripts (shims that run a
syncnet.cli module), the console commands and the `python -m` forms, each naming its program as
the user typed it. One short subprocess each: --help, or an unknown option."""
import re
import subprocess
import sys

import pytest
import tomllib

from tests.helpers import REPO_ROOT

CONSOLE = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
# The reference's scripts at the checkout's root, each `from syncnet.cli.X import main`.
SHIMS = {path.name: match[1] for path in sorted(REPO_ROOT.glob("*.py"))
         if (match := re.search(r"^from (syncnet\.cli\.\w+) import main$", path.read_text(), re.M))}
# The `python -m` forms users' scripts call, and the downloader's.
MODULES = ["syncnet.batch", "syncnet.eval", "syncnet.train", "syncnet.cli.download"]


def python(*args):
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_the_five_scripts_are_shims_of_console_commands():
    assert sorted(SHIMS) == ["demo_feature.py", "demo_syncnet.py", "run_pipeline.py", "run_syncnet.py",
                             "run_visualise.py"]
    assert set(SHIMS.values()) <= {target.split(":")[0] for target in CONSOLE.values()}
    for script in SHIMS:
        assert len((REPO_ROOT / script).read_text().splitlines()) <= 10, f"{script} is more than a shim"


@pytest.mark.parametrize("script", SHIMS)
def test_a_script_names_itself_in_its_errors(script):
    result = python(script, "--no_such_option")
    assert result.returncode == 2
    assert result.stderr.endswith(f"{script}: error: unrecognized arguments: --no_such_option\n"), result.stderr


@pytest.mark.parametrize("name", CONSOLE)
def test_a_console_command_names_itself(name):
    """As pip's wrapper runs it: argv[0] is the command's name."""
    module, function = CONSOLE[name].split(":")
    result = python("-c", f"import sys; sys.argv[0] = {name!r}; from {module} import {function}; "
                          f"sys.exit({function}())", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {name} ")


@pytest.mark.parametrize("module", MODULES)
def test_a_module_run_names_itself(module):
    result = python("-m", module, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module} ")
