"""The package as a user installs it: the core install without the extras, and the one line a
missing extra gives. (Commands whose --help starts without the heavy libraries:
integration/test_install.py.)"""
import ast
import json
import logging
import sys

import pytest

from syncnet.batch.tables import SUMMARY_FILES, write_tables
from syncnet.errors import InputError
from syncnet.io import storage
from syncnet.runtime import extras
from tests.helpers import PYPROJECT, REPO_ROOT, run_command

# Each extra as pyproject.toml declares it, and its packages as the code names them (next).
DECLARED = PYPROJECT["project"]["optional-dependencies"]


def _library_sources():
    return [*REPO_ROOT.glob("*.py"), *(REPO_ROOT / "syncnet").rglob("*.py"), *(REPO_ROOT / "detectors").rglob("*.py")]


def _extra_packages():
    """{extra: its top-level packages}: those syncnet.runtime.extras.MODULES lists, and those the
    library asks extras.require for by name (boto3's botocore, say), read from the source."""
    packages = {extra: set(modules) for extra, modules in extras.MODULES.items()}
    for path in _library_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "require" and len(node.args) == 3 \
                    and all(isinstance(node.args[i], ast.Constant) for i in (0, 2)):
                packages[node.args[0].value].add(node.args[2].value.split(".")[0])
    return packages


PACKAGES = _extra_packages()
EXTRA_PACKAGES = set().union(*PACKAGES.values())


def pip_install(extra):
    """What the one line names for a missing `extra`: pip install of its declared requirements."""
    return "pip install " + " ".join(f"'{requirement}'" for requirement in DECLARED[extra])


def _requirements(path):
    lines = (line.split("#")[0].strip() for line in (REPO_ROOT / path).read_text().splitlines())
    return [line for line in lines if line]


def test_the_core_holds_no_extra_and_requirements_txt_is_the_core():
    core = PYPROJECT["project"]["dependencies"]
    assert sorted(_requirements("requirements.txt")) == sorted(core)
    assert not [req for req in core if req.split("[")[0].split(">")[0].split("=")[0] in EXTRA_PACKAGES]


def test_the_extras_are_what_the_missing_extra_message_names():
    assert {name: tuple(reqs) for name, reqs in DECLARED.items() if name != "all"} == extras.EXTRAS
    assert sorted(DECLARED["all"]) == sorted({req for reqs in extras.EXTRAS.values() for req in reqs})
    assert "-e .[all]" in _requirements("requirements-dev.txt")


def test_no_module_imports_an_extra_but_through_the_helper():
    direct = []
    for path in _library_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            direct += [f"{path.relative_to(REPO_ROOT)}:{node.lineno} {name}" for name in names
                       if name.split(".")[0] in EXTRA_PACKAGES]
    assert not direct, "import these through syncnet.runtime.extras.require: " + ", ".join(direct)


@pytest.fixture
def without(monkeypatch):
    """without('ray', ...) makes those packages (and their submodules) fail to import, as on a core install."""
    def block(*packages):
        for name in list(sys.modules):
            if name.split(".")[0] in packages:
                monkeypatch.setitem(sys.modules, name, None)
        for name in packages:
            monkeypatch.setitem(sys.modules, name, None)
    storage._client.cache_clear()
    extras.warn_missing.cache_clear()
    yield block
    storage._client.cache_clear()
    extras.warn_missing.cache_clear()


@pytest.mark.parametrize("extra, call", [
    ("s3", lambda: storage.stat("s3://bucket/key")),
    ("s3", lambda: storage.list_files("s3://bucket/prefix")),
    ("s3", lambda: storage.read_bytes("s3://bucket/key")),
    ("ray", lambda: extras.require("ray", "--engine ray")),
    ("monitor", lambda: __import__("syncnet.monitor.metrics", fromlist=["Metrics"]).Metrics("feed")),
    ("monitor", lambda: __import__("syncnet.monitor.web", fromlist=["LivePage"]).LivePage("127.0.0.1", 0, "feed",
                                                                                       (-125, 45), "bt1359")),
])
def test_a_missing_extra_is_one_line_naming_the_pip_install(without, extra, call):
    without(*PACKAGES[extra])
    with pytest.raises(InputError) as raised:
        call()
    message = str(raised.value)
    assert "\n" not in message and pip_install(extra) in message, message


def test_local_paths_need_no_storage_extra(without, tmp_path):
    without(*PACKAGES["parquet"], *PACKAGES["s3"])
    storage.write_bytes(str(tmp_path / "a.txt"), b"x")
    assert storage.read_bytes(str(tmp_path / "a.txt")) == b"x"
    storage.remove(str(tmp_path / "a.txt"))
    assert not (tmp_path / "a.txt").exists()


def test_without_pyarrow_the_summaries_are_csv_and_json_and_say_so_once(without, tmp_path, caplog):
    (tmp_path / "summary.parquet").write_bytes(b"an earlier run's, now stale")
    without(*PACKAGES["parquet"])
    rows = [{"video": "a.mp4", "n_tracks": 1}]
    with caplog.at_level(logging.WARNING, logger="syncnet"):
        written = write_tables(str(tmp_path), SUMMARY_FILES, rows, ["video", "n_tracks"])
        write_tables(str(tmp_path), ("manifest.csv", "manifest.parquet"), rows, ["video", "n_tracks"])
    assert [p.rsplit("/", 1)[1] for p in written] == ["summary.csv", "summary.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.csv", "summary.csv", "summary.json"]
    assert json.loads((tmp_path / "summary.json").read_text()) == rows
    notes = [r.getMessage() for r in caplog.records if ".parquet" in r.getMessage()]
    assert len(notes) == 1 and pip_install("parquet") in notes[0], notes


def test_engine_ray_without_ray_is_one_line_from_the_command(without, tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"")
    without(*PACKAGES["ray"])
    result = run_command("syncnet.batch", tmp_path / "a.mp4", "--engine", "ray", "--data_dir", tmp_path / "out",
                         "--initial_model", "x.model", "--s3fd_model", "x.pth", "--device", "cpu", cwd=REPO_ROOT,
                         check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "--engine ray" in errors[0] and pip_install("ray") in errors[0]


