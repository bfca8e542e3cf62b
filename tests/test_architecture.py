"""Dependencies point one way: scripts -> syncnet.cli -> the library. Read from the source's syntax
tree, so a new import or print anywhere in the library fails here."""
import ast

import pytest

from tests.helpers import REPO_ROOT

SCRIPTS = {"run_pipeline", "run_syncnet", "run_visualise", "demo_syncnet", "demo_feature"}
LIBRARY = sorted(path for folder in ("syncnet", "detectors") for path in (REPO_ROOT / folder).rglob("*.py")
                 if "cli" not in path.relative_to(REPO_ROOT).parts)


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def _main_guard_nodes(tree):
    """The statements under `if __name__ == "__main__":` (a module's command-line hook)."""
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            yield from ast.walk(node)


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_library_module_imports_no_script_no_argparse_and_prints_nothing(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hook = set(map(id, _main_guard_nodes(tree)))
    imported = {name.split(".")[0] for name in _imports(tree)}
    assert not imported & SCRIPTS, f"{path} imports a top-level script"
    assert "argparse" not in imported, f"{path} parses arguments"
    prints = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
              and getattr(node.func, "id", None) == "print" and id(node) not in hook]
    assert not prints, f"{path} prints (lines {prints}); only the commands print"


def test_the_library_list_is_not_empty():
    assert len(LIBRARY) > 20 and any(path.name == "api.py" for path in LIBRARY)
