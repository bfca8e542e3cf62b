"""Shared test fixtures and the suite's order: the tiers, the shared clips and golden files,
stand-in weights, the twoface run, the trained test model, and Ray on loopback.

The shared folder (clips, golden arrays, make_weights.py) is never committed. It is found
through SYNCNET_SHARED, else ../shared beside the checkout. Outside CI a missing shared
folder skips the tests that need it; in CI (CI=true) it fails them, so nothing passes by
being skipped.
"""
import ast
import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from syncnet.runtime import extras
from tests.helpers import (
    REPO_ROOT,
    TEST_DEVICE,
    TRAIN_ARGS,
    TRAIN_CLIPS,
    TRAIN_SECONDS,
    TWOFACE,
    TWOFACE_SPEAKER_THRESHOLD,
    TWOFACE_SYNC_OFFSET,
    VAL_CLIPS,
    make_synthetic_training_set,
    need,
    run_script,
    train_test_model,
)
from tests.helpers import shared_dir as _shared_dir

TESTS_DIR = Path(__file__).resolve().parent


@contextlib.contextmanager
def once_per_run(tmp_path_factory, name):
    """(folder, done): a folder made once per pytest run, even across pytest-xdist's workers.
    The block fills it when `done` is False; another worker waits for that block to end, on a
    lock, and then gets done=True. Without xdist it is simply a fresh folder."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield tmp_path_factory.mktemp(name), False
        return
    root = tmp_path_factory.getbasetemp().parent  # this run's, shared by its workers
    folder, marker = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            yield folder, True
            return
        shutil.rmtree(folder, ignore_errors=True)  # a worker's failed attempt
        folder.mkdir()
        yield folder, False
        marker.touch()


# ------------------------------------------------------------------ tiers and order
# A test's tier is its folder: tests/unit (in-process and pure), tests/integration (real ffmpeg
# and the stand-in weights; commands called in-process, one real process per command) and
# tests/system (Ray clusters, pip installs, torchrun, the truth tests with the trained model).
# `slow` keeps its meaning, "not in the fast tier" (-m "not slow"): every system test, and the
# integration tests marked so.
TIERS = ("system", "integration", "unit")  # also the order their modules start in: the longest first


def _tier(item):
    parts = Path(item.path).parts[len(TESTS_DIR.parts):] if Path(item.path).is_relative_to(TESTS_DIR) else ()
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


def pytest_configure(config):
    # pytest-xdist hands out modules in collection order (below), not by their number of tests.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these marks
def pytest_collection_modifyitems(config, items):
    """Mark each test with its tier (system tests also slow), and order the modules: the modules
    that need the trained model last, so that its training in the background overlaps the rest;
    before them, system, then integration, then unit modules, so that the long ones start first."""
    needs_model = {item.path for item in items if _needs_trained_model(item)}
    for item in items:
        tier = _tier(item)
        if tier:
            item.add_marker(tier)
        if tier == "system":
            item.add_marker(pytest.mark.slow)
        timeout = item.get_closest_marker("timeout")
        if item.path in needs_model and (timeout is None or timeout.args and timeout.args[0] < TRAINED_MODEL_TIMEOUT_S):
            item.add_marker(pytest.mark.timeout(TRAINED_MODEL_TIMEOUT_S), append=False)
    rank = {tier: index for index, tier in enumerate(TIERS)}
    items.sort(key=lambda item: (item.path in needs_model, rank.get(_tier(item), len(TIERS))))


def pytest_collection_finish(session):
    if not session.config.option.collectonly and not os.environ.get("SYNCNET_TEST_TRAINED_MODEL") and \
            any(_needs_trained_model(item) for item in session.items):
        start_training(session.config)


def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):  # the main process: every worker has finished
        _stop_training(session.config)


def pytest_runtest_setup(item):
    """A test outside the tier folders, or a unit test marked slow, fails: the folder is the tier.
    @pytest.mark.extras('ray', ...): skipped only in the core-only run (SYNCNET_CORE_ONLY=1, as
    .ci/run sets it), whose point is that those packages are absent. Anywhere else a missing
    extra fails the test, so nothing passes by being skipped."""
    if _tier(item) is None:
        pytest.fail(f"{item.path}: a test module belongs in tests/unit, tests/integration or tests/system "
                    "(see tests/conftest.py)", pytrace=False)
    if _tier(item) == "unit" and item.get_closest_marker("slow"):
        pytest.fail("a unit test is fast: a slow one belongs in tests/integration or tests/system", pytrace=False)
    for mark in item.iter_markers("extras"):
        missing = [name for name in mark.args if not extras.available(name)]
        if missing and os.environ.get("SYNCNET_CORE_ONLY") == "1":
            pytest.skip(f"the core-only run: needs the {', '.join(missing)} extra(s)")
    if item.get_closest_marker("docs_tools") and os.environ.get("SYNCNET_CORE_ONLY") == "1" \
            and importlib.util.find_spec("griffe") is None:
        pytest.skip("the core-only run: needs the docs tools of requirements-dev.txt (griffe)")


@pytest.fixture(scope="session")
def shared_dir():
    return need(_shared_dir())


@pytest.fixture(scope="session")
def golden_dir(shared_dir):
    return need(shared_dir / "fixtures" / "golden")


@pytest.fixture(scope="session")
def clip(shared_dir):
    """clip('example.avi') -> path of a shared real clip."""
    return lambda name: need(shared_dir / "data" / name)


@pytest.fixture(scope="session")
def twoface_faces_json(shared_dir):
    """The reference's detections of twoface.mp4 (faces.pckl's format, as JSON)."""
    return need(shared_dir / "fixtures" / "twoface_faces.json")


def _stand_in_weights(shared_dir, tmp_path_factory, kind, filename):
    """make_weights.py's stand-in weights of `kind`, made once per run for every worker."""
    maker = need(shared_dir / "fixtures" / "make_weights.py")
    with once_per_run(tmp_path_factory, f"{kind}_weights") as (folder, done):
        if not done:
            subprocess.run([sys.executable, str(maker), kind, str(folder / filename)], check=True)
    return folder / filename


@pytest.fixture(scope="session")
def syncnet_weights(shared_dir, tmp_path_factory):
    """Deterministic stand-in for syncnet_v2.model (seed 1234), as the golden files used."""
    return _stand_in_weights(shared_dir, tmp_path_factory, "syncnet", "syncnet_standin.model")


@pytest.fixture(scope="session")
def s3fd_weights(shared_dir, tmp_path_factory):
    """Deterministic stand-in for sfd_face.pth (seed 99), as the golden files used."""
    return _stand_in_weights(shared_dir, tmp_path_factory, "s3fd", "sfd_face_standin.pth")


@pytest.fixture(scope="session")
def twoface_run(tmp_path_factory, twoface_faces_json, syncnet_weights, clip):
    """One full run of the three scripts on twoface.mp4 with the reference's detections (--faces),
    each in a process of its own: the smoke runs of run_pipeline.py, run_syncnet.py and
    run_visualise.py.

    It takes about half a minute, so it is made once per run, for every module of every worker,
    which only read it: (data_dir, what run_pipeline.py printed).
    """
    with once_per_run(tmp_path_factory, "twoface_run") as (folder, done):
        data_dir, printed = folder / "work", folder / "run_pipeline.out"
        if not done:
            data_dir.mkdir()
            video = clip("twoface.mp4")
            common = ["--data_dir", data_dir, "--reference", TWOFACE, "--videofile", video]
            pipeline = run_script("run_pipeline.py", *common, "--faces", twoface_faces_json, "--device", TEST_DEVICE,
                                  cwd=data_dir)
            run_script("run_syncnet.py", *common, "--initial_model", syncnet_weights, "--device", TEST_DEVICE,
                       "--write_synced", "--offset", TWOFACE_SYNC_OFFSET,
                       "--speaker_threshold", TWOFACE_SPEAKER_THRESHOLD, cwd=data_dir)
            run_script("run_visualise.py", *common, cwd=data_dir)
            printed.write_text(pipeline.stdout)
    return data_dir, printed.read_text()


# ------------------------------------------------------------------ the trained test model
# Made once for a recipe and kept in a cache folder under a hash of it: the first pytest process
# whose tests need it starts its training in the background as collection ends, and the modules
# that need it run last, so both workers run other tests meanwhile.
TRAINED_MODEL_CACHE = Path(os.environ.get("SYNCNET_TEST_CACHE") or REPO_ROOT / "data" / "work" / "test-cache")
# A test waits this long at most for the training (~8 min of an idle machine, far longer of a busy
# one), and may take this long in all.
TRAINED_MODEL_WAIT_S = 3600
TRAINED_MODEL_TIMEOUT_S = TRAINED_MODEL_WAIT_S + 1200
TRAINING = "trained_syncnet"  # the name of its lock, pid and log files in the run's base folder


def _needs_trained_model(item):
    return "trained_syncnet" in getattr(item, "fixturenames", ())


def _module_file(name):
    """The file of this project's module `name`, or None for anyone else's."""
    relative = Path(*name.split("."))
    for candidate in (REPO_ROOT / relative.with_suffix(".py"), REPO_ROOT / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _project_sources(roots):
    """The files of the modules `roots` and of every module of this project that they import, at
    any depth (imports inside functions too), found by reading the code rather than importing it."""
    files, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        todo += [name.rsplit(".", depth)[0] for depth in range(1, name.count(".") + 1)]  # parent packages
        path = _module_file(name)
        if path is None or path in files:
            continue
        files.add(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                todo += [base, *(f"{base}.{alias.name}" for alias in node.names)]  # a name may be a module
    return sorted(files)


def trained_model_folder():
    """Where the recipe's model is kept: a hash of the recipe (its numbers and the code that makes
    the clips and trains), of this project's modules behind them, and of torch's and numpy's
    versions names the folder, so that a change to any of them trains afresh."""
    digest = hashlib.sha256(json.dumps([TRAIN_CLIPS, TRAIN_SECONDS, VAL_CLIPS, TRAIN_ARGS,
                                        inspect.getsource(make_synthetic_training_set),
                                        inspect.getsource(train_test_model),
                                        importlib.metadata.version("torch"),
                                        importlib.metadata.version("numpy")]).encode())
    for path in _project_sources(["syncnet.train.dispatch", "syncnet.synthetic"]):
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    return TRAINED_MODEL_CACHE / f"trained_syncnet-{digest.hexdigest()[:16]}"


def _run_root(config):
    """This pytest run's base folder: the one pytest-xdist's workers share (the main process's)."""
    factory = config._tmp_path_factory
    return factory.getbasetemp().parent if hasattr(config, "workerinput") else factory.getbasetemp()


def _running(pid):
    """Whether process `pid` runs (a zombie, finished but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def start_training(config):
    """Start training the test model in the background unless it is in the cache, or another
    process of this run started it; its pid and log go in the run's base folder. The training
    writes to a folder of its own and renames it into place when done, so the model appears whole."""
    folder, root = trained_model_folder(), _run_root(config)
    with open(root / f"{TRAINING}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if folder.exists() or (root / f"{TRAINING}.pid").exists():
            return
        folder.parent.mkdir(parents=True, exist_ok=True)
        code = ("import os, sys, shutil; from pathlib import Path; from tests.helpers import train_test_model\n"
                "final = Path(sys.argv[1]); partial = final.with_name(final.name + f'.partial-{os.getpid()}')\n"
                "train_test_model(partial)\n"
                "try:\n    partial.rename(final)\n"
                "except OSError:  # another run's training got there first\n    shutil.rmtree(partial)\n")
        with open(root / f"{TRAINING}.log", "w") as log:
            process = subprocess.Popen([sys.executable, "-c", code, str(folder)], cwd=REPO_ROOT,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        (root / f"{TRAINING}.pid").write_text(str(process.pid))


def _stop_training(config):
    """At the end of the run (the main process's): a training still running is stopped, and its
    unfinished folder removed."""
    pid_file = _run_root(config) / f"{TRAINING}.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    if _running(pid):
        os.killpg(pid, signal.SIGKILL)
        shutil.rmtree(trained_model_folder().with_name(f"{trained_model_folder().name}.partial-{pid}"),
                      ignore_errors=True)


def _training_log(root):
    log = root / f"{TRAINING}.log"
    return f"the end of its log, {log}:\n" + (log.read_text(errors="replace")[-3000:] if log.exists() else "(none)")


@pytest.fixture(scope="session")
def trained_syncnet(request):
    """syncnet_trained.model of a SyncNet trained from scratch on synthetic clips by the library
    call behind syncnet-train (a few minutes of CPU), made once for its recipe (see
    trained_model_folder) and reused. Its run folder (train.json, metrics.csv, curves.png) is the
    file's parent. SYNCNET_TEST_TRAINED_MODEL=PATH uses that model instead (the inner loop)."""
    from syncnet.train.checkpoints import MODEL_FILE

    if os.environ.get("SYNCNET_TEST_TRAINED_MODEL"):
        return Path(os.environ["SYNCNET_TEST_TRAINED_MODEL"])
    model = trained_model_folder() / "run" / MODEL_FILE
    start_training(request.config)  # started as collection ended, unless this test came in later
    root, deadline = _run_root(request.config), time.monotonic() + TRAINED_MODEL_WAIT_S
    while not model.is_file():
        pid_file = root / f"{TRAINING}.pid"
        if pid_file.exists() and not _running(int(pid_file.read_text())) and not model.is_file():
            pytest.fail(f"training the test model failed; {_training_log(root)}", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"the trained test model was not ready within {TRAINED_MODEL_WAIT_S} s; "
                        f"{_training_log(root)}", pytrace=False)
        time.sleep(2)
    return model


# Ray on loopback only, with no usage reports and no token prompts.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
           "RAY_ENABLE_AUTO_CONNECT": "0"}


@pytest.fixture(scope="module")
def ray_env():
    """Ray's settings for this module, and a private, short RAY_TMPDIR (unix socket paths are short)."""
    folder = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    environment = {**RAY_ENV, "RAY_TMPDIR": folder}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        yield environment
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(ray_env):
    """Two raylets of one CPU each: a head node and a worker node. (cluster, node ids, seconds to start)"""
    from ray.cluster_utils import Cluster

    started = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "object_store_memory": 80 << 20,
        "dashboard_agent_listen_port": None, "no_monitor": True, "include_log_monitor": False})
    try:
        worker_node = cluster.add_node(num_cpus=1, object_store_memory=80 << 20)
        cluster.wait_for_nodes()
        yield cluster, {cluster.head_node.node_id, worker_node.node_id}, time.monotonic() - started
    finally:
        cluster.shutdown()
