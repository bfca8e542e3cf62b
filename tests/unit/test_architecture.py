"""Dependencies point one way, and none goes round in a circle.

The layers are read from docs/architecture.md's "The folders" table, the one source of both the
page and this test, so the two cannot drift. Imports are read from the source's syntax tree
(function-level imports included: a lazy import is a dependency all the same), so a new upward
import, a cycle, an argparse or a print anywhere in the library fails here."""
import ast
import re

import pytest

from tests.helpers import REPO_ROOT

ARCHITECTURE_PAGE = REPO_ROOT / "docs" / "architecture.md"
SCRIPTS = {"run_pipeline", "run_syncnet", "run_visualise", "demo_syncnet", "demo_feature"}
PACKAGES = ("syncnet", "detectors")
PATH_IN_TABLE = re.compile(r"`([\w/.]+(?:/|\.py))`")


def _section(text, heading):
    """The lines of a `## heading` section of a Markdown page."""
    lines = text.splitlines()
    start = lines.index(f"## {heading}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def _path_to_module(path):
    """`syncnet/io/` -> syncnet.io; `syncnet/errors.py` -> syncnet.errors; `run_syncnet.py` -> run_syncnet."""
    return path.rstrip("/").removesuffix(".py").replace("/", ".")


def layers_from_page(text):
    """((layer name, module prefixes), ...), lowest layer first, from the page's layer table."""
    layers = {}
    for line in _section(text, "The folders"):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0] or set(cells[0]) <= {"-"} or cells[0] == "layer":
            continue
        modules = (_path_to_module(path) for path in PATH_IN_TABLE.findall(cells[1]))
        layers.setdefault(cells[0], []).extend(module for module in modules if module in KNOWN_MODULES)
    return tuple((name, tuple(prefixes)) for name, prefixes in layers.items())


LIBRARY = sorted(path for folder in PACKAGES for path in (REPO_ROOT / folder).rglob("*.py")
                 if "cli" not in path.relative_to(REPO_ROOT).parts and path.name != "__main__.py")
MODULES = sorted([*REPO_ROOT.glob("*.py"), *(p for folder in PACKAGES for p in (REPO_ROOT / folder).rglob("*.py"))])


def _module_name(path):
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


KNOWN_MODULES = {_module_name(path) for path in MODULES}
LAYERS = layers_from_page(ARCHITECTURE_PAGE.read_text(encoding="utf-8"))


def layer_of(module):
    """The layer's index of a dotted module name; None for modules outside the project."""
    if module.endswith("__main__"):  # `python -m` hooks are command lines
        return layer_of("syncnet.cli")
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    return None


def _imports(tree, module, is_package=False):
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module
            else:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            # `from pkg import module` names a module too: judge the deepest known name
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _project_module(name):
    """The project module an imported name lives in (`syncnet.io.media.run_ffmpeg` ->
    syncnet.io.media), or None for a name outside the project."""
    while name and name not in KNOWN_MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _main_guard_nodes(tree):
    """The statements under `if __name__ == "__main__":` (a module's command-line hook)."""
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            yield from ast.walk(node)


def _tree(path):
    return ast.parse(path.read_text(encoding="utf-8"))


def import_graph(paths):
    """{module: the project modules it imports}, for the modules at `paths`."""
    graph = {}
    for path in paths:
        module = _module_name(path)
        names = _imports(_tree(path), module, is_package=path.name == "__init__.py")
        graph[module] = {target for target in map(_project_module, names) if target and target != module}
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_library_module_imports_no_script_no_argparse_and_prints_nothing(path):
    tree = _tree(path)
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
    assert own is not None, f"{module} belongs to no layer: add it to the table in docs/architecture.md"
    upward = sorted({name for name in _imports(_tree(path), module, is_package=path.name == "__init__.py")
                     if (layer_of(name) or -1) > own or name == "syncnet"})
    assert not upward, (f"{module} ({LAYERS[own][0]}) imports {upward}, from a layer above it or the "
                        f"public API; move the shared piece down")


def _package_of(module):
    """The unit a module belongs to one level down: syncnet.io.media -> syncnet.io; a `python -m`
    hook (syncnet.batch.__main__) belongs to the commands; a top-level module is its own."""
    if module.endswith(".__main__"):
        return "syncnet.cli"
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "syncnet" else parts[0]


def package_graph(graph):
    """The module graph folded into packages: which package imports which."""
    folded = {}
    for module, targets in graph.items():
        own = _package_of(module)
        folded.setdefault(own, set()).update(p for p in map(_package_of, targets) if p != own)
    return folded


MODULE_GRAPH = import_graph(path for path in MODULES if _module_name(path) != "syncnet")


def test_no_import_cycle_between_modules():
    assert cycles(MODULE_GRAPH) == [], "modules that import each other, directly or round a circle"


def test_no_import_cycle_between_packages():
    assert cycles(package_graph(MODULE_GRAPH)) == [], "packages that import each other: make one depend on the other"


def test_the_rules_can_fail():
    """Each rule finds what it is for: an upward import, and a cycle."""
    tree = ast.parse("from syncnet.api import VideoScorer\nfrom syncnet.io import media\n")
    found = [name for name in _imports(tree, "syncnet.scoring.tracks")
             if (layer_of(name) or -1) > layer_of("syncnet.scoring.tracks")]
    assert found == ["syncnet.api.VideoScorer"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert package_graph({"syncnet.scoring.x": {"syncnet.timeline.y"}, "syncnet.timeline.y": {"syncnet.scoring.z"}}) \
        == {"syncnet.scoring": {"syncnet.timeline"}, "syncnet.timeline": {"syncnet.scoring"}}


def test_the_layer_table_is_read_from_the_page():
    names = [name for name, _ in LAYERS]
    assert names[0] == "base" and "syncnet.io" in dict(LAYERS)["I/O"] and names[-1] == "faces"
    assert len(names) == len(set(names)) >= 6


def test_every_subpackage_is_in_a_layer_and_the_library_list_is_full():
    packages = {p.parent.name for p in (REPO_ROOT / "syncnet").glob("*/__init__.py")}
    assert {"io", "pipeline", "scoring", "batch", "eval", "cli"} <= packages
    assert all(layer_of(f"syncnet.{name}") is not None for name in packages)
    assert len(LIBRARY) > 30 and any(path.name == "api.py" for path in LIBRARY)
