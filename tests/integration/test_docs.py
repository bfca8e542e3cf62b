"""The docs' examples marked `<!-- docs-test: run -->` (the offline route of the README and of
docs/install.md) run as written on a fresh clone of the checkout, as a newcomer without a
download has it. (Every example's command line parsed by its command's own parser:
unit/test_docs.py.)"""
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT, bash_blocks, need, shared_dir

# Each distinct block once, with every page that shows it.
PAGES_OF_BLOCK = {}
for _page, _block in bash_blocks(marked_only=True):
    PAGES_OF_BLOCK.setdefault(_block, []).append(str(_page))
RUNNABLE = list(PAGES_OF_BLOCK.items())


def test_the_offline_route_is_marked_in_the_readme_and_the_install_page():
    assert {"README.md", "docs/install.md"} <= {page for pages in PAGES_OF_BLOCK.values() for page in pages}


@pytest.fixture
def fresh_clone(tmp_path):
    """`git clone` of this checkout into tmp_path/checkout (what is committed, nothing ignored: no
    data/work, no weights, no venv), with the shared folder linked beside it as tmp_path/shared,
    where the docs' `../shared` points."""
    shared = need(shared_dir()).resolve()
    need(REPO_ROOT / ".git")
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(tmp_path / "checkout")], check=True,
                   capture_output=True, timeout=120)
    (tmp_path / "shared").symlink_to(shared, target_is_directory=True)
    return tmp_path / "checkout"


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("block, pages", RUNNABLE, ids=[" ".join(pages) for _, pages in RUNNABLE])
def test_marked_examples_run_as_written_on_a_fresh_clone(block, pages, fresh_clone):
    """With this test run's Python (the venv, no pip) first on PATH and the clone's code first on
    the import path."""
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(fresh_clone),
           "SYNCNET_SHARED": str(fresh_clone.parent / "shared")}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=fresh_clone, capture_output=True,
                            text=True, timeout=580, env=env)
    assert result.returncode == 0 and "Traceback" not in result.stderr, f"{pages}:\n{block}\n{result.stderr[-2000:]}"
