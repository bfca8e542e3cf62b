"""Dependencies point one way: scripts -> cli -> engines -> orchestrator -> stages -> I/O -> base.
Read from the source's syntax tree, so a new upward import, an argparse or a print anywhere in
the library fails here."""
import ast

import pytest

from tests.helpers import REPO_ROOT

SCRIPTS = {"run_pipeline", "run_syncnet", "run_visualise", "demo_syncnet", "demo_feature"}
# Lowest first. A module may import its own layer and those below it, never one above.
LAYERS = (
    ("base", ("syncnet.errors", "syncnet.options", "syncnet.filters", "syncnet.runtime", "syncnet.detection.registry")),
    ("io", ("syncnet.io", "syncnet.models", "syncnet.detection")),
    ("stages", ("syncnet.pipeline", "syncnet.scoring", "syncnet.repair", "syncnet.render",
                "syncnet.timeline", "syncnet.synthetic")),
    ("orchestrator", ("syncnet.api",)),
    ("engines", ("syncnet.batch", "syncnet.eval", "syncnet.train")),
    ("cli", ("syncnet.cli",)),
    ("faces", ("SyncNetInstance", "SyncNetModel", "detectors", *SCRIPTS)),
)
LIBRARY = sorted(path for folder in ("syncnet", "detectors") for path in (REPO_ROOT / folder).rglob("*.py")
                 if "cli" not in path.relative_to(REPO_ROOT).parts and path.name != "__main__.py")
MODULES = sorted([*REPO_ROOT.glob("*.py"), *(p for folder in ("syncnet", "detectors")
                                                for p in (REPO_ROOT / folder).rglob("*.py"))])


def _module_name(path):
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module):
    """The layer's index of a dotted module name; None for modules outside the project."""
    if module.endswith("__main__"):  # `python -m` hooks are command lines
        return layer_of("syncnet.cli")
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    return None


def _imports(tree, module):
    package = module if module.count(".") == 0 else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module
            else:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            # `from pkg import module` names a module too: judge the deepest known name
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _main_guard_nodes(tree):
    """The statements under `if __name__ == "__main__":` (a module's command-line hook)."""
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            yield from ast.walk(node)


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_library_module_imports_no_script_no_argparse_and_prints_nothing(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hook = set(map(id, _main_guard_nodes(tree)))
    imported = {name.split(".")[0] for name in _imports(tree, _module_name(path))}
    assert not imported & SCRIPTS, f"{path} imports a top-level script"
    assert "argparse" not in imported, f"{path} parses arguments"
    prints = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
              and getattr(node.func, "id", None) == "print" and id(node) not in hook]
    assert not prints, f"{path} prints (lines {prints}); only the commands print"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_imports_point_down_the_layers(path):
    module = _module_name(path)
    own = layer_of(module)
    if module == "syncnet":  # the public API's lazy table reaches every layer by design
        return
    assert own is not None, f"{module} belongs to no layer: add it to LAYERS"
    upward = sorted({name for name in _imports(ast.parse(path.read_text(encoding="utf-8")), module)
                     if (layer_of(name) or -1) > own or name == "syncnet"})
    assert not upward, (f"{module} ({LAYERS[own][0]}) imports {upward}, from a layer above it or the "
                        f"public API; move the shared piece down")


def test_the_layer_rule_catches_an_upward_import():
    """The rule itself can fail: a stage that imported the orchestrator is found."""
    tree = ast.parse("from syncnet.api import VideoScorer\nfrom syncnet.io import media\n")
    found = [name for name in _imports(tree, "syncnet.scoring.tracks")
             if (layer_of(name) or -1) > layer_of("syncnet.scoring.tracks")]
    assert found == ["syncnet.api.VideoScorer"]


def test_every_subpackage_is_in_a_layer_and_the_library_list_is_full():
    packages = {p.parent.name for p in (REPO_ROOT / "syncnet").glob("*/__init__.py")}
    assert {"io", "pipeline", "scoring", "batch", "eval", "cli"} <= packages
    assert all(layer_of(f"syncnet.{name}") is not None for name in packages)
    assert len(LIBRARY) > 30 and any(path.name == "api.py" for path in LIBRARY)
