"""The docs' examples marked `<!-- docs-test: run -->` run as written, from the checkout. (Every
example's command line parsed by its command's own parser: unit/test_docs.py.)"""
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT, bash_blocks, need, shared_dir

RUNNABLE = list(bash_blocks(marked_only=True))


def test_some_examples_are_run():
    assert RUNNABLE


@pytest.mark.slow
@pytest.mark.parametrize("page, block", RUNNABLE, ids=[str(page) for page, _ in RUNNABLE])
def test_marked_examples_run_as_written(page, block):
    """From the checkout; `../shared` in an example is the shared folder, wherever it is."""
    shared = need(shared_dir())
    (REPO_ROOT / "data" / "work").mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block.replace("../shared", str(shared))],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PATH": path, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0 and "Traceback" not in result.stderr, f"{page}:\n{block}\n{result.stderr[-2000:]}"
