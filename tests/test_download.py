"""Tests for download_model.sh.

The script runs as a subprocess on a temporary copy of the repository layout, so the
real data/ folder is never touched, and never reaches the network: every run gets fake
`curl` and `wget` commands first on PATH that fail at once (or, where a test says so,
serve files from a local folder).
"""
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "download_model.sh"
BASH = shutil.which("bash")

# base name -> (path inside the repo, checksum override variable, checksum kind)
FILES = {
    "syncnet_v2.model": ("data/syncnet_v2.model", "SYNCNET_SHA256_SYNCNET", "sha256"),
    "example.avi": ("data/example.avi", "SYNCNET_SHA256_EXAMPLE", "sha256"),
    "sfd_face.pth": ("detectors/s3fd/weights/sfd_face.pth", "SYNCNET_GITBLOB_SFD", "gitblob"),
}

URLS = {
    "syncnet_v2.model": "http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model",
    "example.avi": "http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/example.avi",
    "sfd_face.pth": "https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/sfd_face.pth",
}

# Small stand-ins with NUL bytes, newlines and high bytes, so hashing must be byte-exact.
FAKE = {
    "syncnet_v2.model": b"fake syncnet weights\x00\x01\x02\n" + bytes(range(256)) * 3,
    "example.avi": b"RIFF\x00\x00\x00\x00AVI fake clip\r\n\x00" * 40,
    "sfd_face.pth": b"PK\x03\x04 fake s3fd\x00\n\xff\xfe" + bytes(range(255, -1, -1)) * 2,
}

# Tools the script may need, for tests that run it on a restricted PATH.
BASE_TOOLS = ["tr", "mktemp", "mkdir", "cp", "mv", "rm", "chmod", "cat", "wc"]

FAILING_CURL = """#!/bin/sh
echo "curl: (6) Could not resolve host: fake-offline" >&2
exit 6
"""

FAILING_WGET = """#!/bin/sh
echo "wget: unable to resolve host address (fake-offline)" >&2
exit 4
"""

# Serves URL basenames from $FAKE_SERVER, logging each call's arguments to $FAKE_LOG.
SERVING_CURL = """#!/bin/sh
echo "curl $*" >> "$FAKE_LOG"
out=""
url=""
while [ $# -gt 0 ]; do
    case "$1" in
        -o) out="$2"; shift 2 ;;
        -*) shift ;;
        *) url="$1"; shift ;;
    esac
done
name="${url##*/}"
[ -f "$FAKE_SERVER/$name" ] || { echo "curl: (22) 404 for $url" >&2; exit 22; }
cat "$FAKE_SERVER/$name" > "$out"
"""

SERVING_WGET = """#!/bin/sh
echo "wget $*" >> "$FAKE_LOG"
out=""
url=""
while [ $# -gt 0 ]; do
    case "$1" in
        -O) out="$2"; shift 2 ;;
        -*) shift ;;
        *) url="$1"; shift ;;
    esac
done
name="${url##*/}"
[ -f "$FAKE_SERVER/$name" ] || { echo "wget: 404 for $url" >&2; exit 8; }
cat "$FAKE_SERVER/$name" > "$out"
"""

# Writes part of a file, then fails: the script must not keep the partial file.
PARTIAL_CURL = """#!/bin/sh
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        -o) out="$2"; shift 2 ;;
        *) shift ;;
    esac
done
printf 'partial data' > "$out"
echo "curl: (18) transfer closed with outstanding read data remaining" >&2
exit 18
"""

# Writes part of a file, signals that it started, then hangs until killed.
HANGING_CURL = """#!/bin/sh
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        -o) out="$2"; shift 2 ;;
        *) shift ;;
    esac
done
printf 'partial data' > "$out"
: > "$FAKE_STARTED"
exec sleep 60
"""


# ---------------------------------------------------------------- helpers


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def git_blob_id(data):
    """Git blob id computed independently of the script: sha1(b"blob <size>\\0" + data)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def digest(name, data):
    return git_blob_id(data) if FILES[name][2] == "gitblob" else sha256(data)


def true_overrides(files=FAKE):
    """Checksum override variables set to the true digests of the given file contents."""
    return {FILES[name][1]: digest(name, data) for name, data in files.items()}


def write_exe(path, text):
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def repo(tmp_path):
    """A temporary copy of the repository layout holding only download_model.sh."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy2(SCRIPT, root / "download_model.sh")
    (root / "data").mkdir()
    (root / "detectors" / "s3fd" / "weights").mkdir(parents=True)
    return root


@pytest.fixture
def mirror(tmp_path):
    folder = tmp_path / "mirror"
    folder.mkdir()
    return folder


@pytest.fixture
def offline_bin(tmp_path):
    """A folder with fake curl and wget that fail at once, as with no network."""
    folder = tmp_path / "offline-bin"
    folder.mkdir()
    write_exe(folder / "curl", FAILING_CURL)
    write_exe(folder / "wget", FAILING_WGET)
    return folder


def minimal_bin(folder, tools):
    """A folder of links to just the named system tools (no curl, wget, ... unless named)."""
    folder.mkdir(exist_ok=True)
    for tool in tools:
        if tool == "python3":
            target = os.path.realpath(sys.executable)
        else:
            target = shutil.which(tool)
            assert target, f"{tool} is needed to run this test"
        (folder / tool).symlink_to(target)
    return folder


def run_script(repo, offline_bin, env=None, cwd=None, path=None, timeout=120):
    """Run the copied script with bash. PATH puts the fake offline curl/wget first,
    unless `path` gives the whole PATH."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCNET_")}
    full_env["PATH"] = path if path is not None else f"{offline_bin}{os.pathsep}{os.environ['PATH']}"
    full_env.update(env or {})
    return subprocess.run(
        [BASH, str(repo / "download_model.sh")],
        env=full_env,
        cwd=str(cwd or repo.parent),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=lambda: os.umask(0o022),
    )


def leftovers(repo):
    """Temporary download files anywhere in the repo copy."""
    return sorted(str(p.relative_to(repo)) for p in repo.rglob("*.part*"))


def dest(repo, name):
    return repo / FILES[name][0]


# ---------------------------------------------------------------- the checksum itself


def test_script_is_valid_bash():
    subprocess.run([BASH, "-n", str(SCRIPT)], check=True)


@pytest.mark.parametrize("data", [FAKE["sfd_face.pth"], b"", b"\x00" * 1000, b"no newline"])
def test_git_blob_id_matches_git_hash_object(tmp_path, repo, mirror, offline_bin, data):
    # The test's own blob id agrees with git ...
    fixture = tmp_path / "fixture.bin"
    fixture.write_bytes(data)
    git = subprocess.run(
        ["git", "hash-object", "--no-filters", str(fixture)],
        cwd=str(tmp_path), capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert git_blob_id(data) == git
    # ... and the script accepts the file exactly when told git's id.
    shutil.copy(fixture, mirror / "sfd_face.pth")
    env = {"SYNCNET_MIRROR": str(mirror), "SYNCNET_ONLY": "sfd_face.pth", "SYNCNET_GITBLOB_SFD": git}
    result = run_script(repo, offline_bin, env)
    assert result.returncode == 0, result.stderr
    assert dest(repo, "sfd_face.pth").read_bytes() == data


def test_git_blob_id_of_real_clip(clip):
    path = clip("example.avi")
    git = subprocess.run(
        ["git", "hash-object", "--no-filters", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert git_blob_id(path.read_bytes()) == git


# ---------------------------------------------------------------- accepting good files


def test_accepts_good_files_from_mirror(repo, mirror, offline_bin):
    for name, data in FAKE.items():
        (mirror / name).write_bytes(data)
    env = {"SYNCNET_MIRROR": str(mirror), **true_overrides()}
    result = run_script(repo, offline_bin, env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for name, data in FAKE.items():
        path = dest(repo, name)
        assert path.read_bytes() == data
        assert f"{name}: copied from mirror and verified" in result.stdout
        # Readable like any new file (mktemp alone would make it owner-only).
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert len(result.stdout.splitlines()) == 3
    assert leftovers(repo) == []


def test_real_example_clip_passes_default_checksum(repo, offline_bin, clip):
    source = clip("example.avi")
    env = {"SYNCNET_MIRROR": str(source.parent), "SYNCNET_ONLY": "example.avi"}
    result = run_script(repo, offline_bin, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "example.avi: copied from mirror and verified"
    assert dest(repo, "example.avi").read_bytes() == source.read_bytes()
    # SYNCNET_ONLY restricted the run: the weights were not attempted.
    assert not dest(repo, "syncnet_v2.model").exists()
    assert not dest(repo, "sfd_face.pth").exists()


def test_defaults_apply_without_overrides(repo, mirror, offline_bin):
    """Without the override variables, stand-in files fail the real checksums."""
    for name, data in FAKE.items():
        (mirror / name).write_bytes(data)
    result = run_script(repo, offline_bin, {"SYNCNET_MIRROR": str(mirror)})
    assert result.returncode != 0
    for name in FAKE:
        assert not dest(repo, name).exists()
    assert "961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442" in result.stderr
    assert "1724121b3a50141cfc9e77c034f7de914024d015b92762ae12d3e1a7151b8621" in result.stderr
    assert "2bdf053a994371d57f6f535cb2682dc3e2990e89" in result.stderr
    assert leftovers(repo) == []


def test_runs_from_any_directory_with_relative_mirror(tmp_path, repo, mirror, offline_bin):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (mirror / "example.avi").write_bytes(FAKE["example.avi"])
    env = {
        "SYNCNET_MIRROR": os.path.relpath(mirror, elsewhere),
        "SYNCNET_ONLY": "example.avi",
        **true_overrides(),
    }
    result = run_script(repo, offline_bin, env, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert dest(repo, "example.avi").read_bytes() == FAKE["example.avi"]
    assert list(elsewhere.iterdir()) == []


def test_creates_missing_destination_folders(repo, mirror, offline_bin):
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / "detectors")
    for name, data in FAKE.items():
        (mirror / name).write_bytes(data)
    result = run_script(repo, offline_bin, {"SYNCNET_MIRROR": str(mirror), **true_overrides()})
    assert result.returncode == 0, result.stderr
    for name, data in FAKE.items():
        assert dest(repo, name).read_bytes() == data


# ---------------------------------------------------------------- downloading (fake network)


@pytest.mark.parametrize("downloader", ["curl", "wget"])
def test_downloads_when_absent_from_mirror(tmp_path, repo, mirror, downloader):
    """A file the mirror lacks is fetched from its reference URL (by a fake downloader)."""
    server = tmp_path / "server"
    server.mkdir()
    for name, data in FAKE.items():
        (server / name).write_bytes(data)
    (mirror / "example.avi").write_bytes(FAKE["example.avi"])
    log = tmp_path / "fake.log"
    tools = ["tr", "mktemp", "mkdir", "cp", "mv", "rm", "chmod", "cat", "wc", "sha256sum", "sha1sum"]
    bin_dir = minimal_bin(tmp_path / "bin", tools)
    write_exe(bin_dir / downloader, SERVING_CURL if downloader == "curl" else SERVING_WGET)
    env = {
        "SYNCNET_MIRROR": str(mirror),
        "FAKE_SERVER": str(server),
        "FAKE_LOG": str(log),
        **true_overrides(),
    }
    result = run_script(repo, None, env, path=str(bin_dir))
    assert result.returncode == 0, result.stderr
    assert "syncnet_v2.model: downloaded and verified" in result.stdout
    assert "sfd_face.pth: downloaded and verified" in result.stdout
    assert "example.avi: copied from mirror and verified" in result.stdout
    for name, data in FAKE.items():
        assert dest(repo, name).read_bytes() == data
    calls = log.read_text()
    assert URLS["syncnet_v2.model"] in calls
    assert URLS["sfd_face.pth"] in calls
    assert URLS["example.avi"] not in calls
    if downloader == "curl":
        for line in calls.splitlines():
            flags = "".join(t[1:] for t in line.split() if t.startswith("-") and not t.startswith("--"))
            assert "f" in flags and "L" in flags  # fail on HTTP errors, follow redirects
            assert "--retry 3" in line
    assert leftovers(repo) == []


def test_python_fallbacks_for_hashing(tmp_path, repo, mirror):
    """With no sha256sum/sha1sum/shasum on PATH, python3 computes the checksums."""
    for name, data in FAKE.items():
        (mirror / name).write_bytes(data)
    bin_dir = minimal_bin(tmp_path / "bin", BASE_TOOLS + ["python3"])
    write_exe(bin_dir / "curl", FAILING_CURL)
    env = {"SYNCNET_MIRROR": str(mirror), **true_overrides()}
    result = run_script(repo, None, env, path=str(bin_dir))
    assert result.returncode == 0, result.stderr
    for name, data in FAKE.items():
        assert dest(repo, name).read_bytes() == data
    # And the python path rejects a wrong digest too.
    dest(repo, "sfd_face.pth").unlink()
    env["SYNCNET_GITBLOB_SFD"] = git_blob_id(b"something else")
    env["SYNCNET_ONLY"] = "sfd_face.pth"
    result = run_script(repo, None, env, path=str(bin_dir))
    assert result.returncode != 0
    assert "sfd_face.pth" in result.stderr and "checksum" in result.stderr
    assert not dest(repo, "sfd_face.pth").exists()


# ---------------------------------------------------------------- rejecting bad files


@pytest.mark.parametrize("name", list(FAKE))
def test_rejects_tampered_file(repo, mirror, offline_bin, name):
    for other, data in FAKE.items():
        (mirror / other).write_bytes(data)
    tampered = bytearray(FAKE[name])
    tampered[len(tampered) // 2] ^= 0x01
    (mirror / name).write_bytes(bytes(tampered))
    env = {"SYNCNET_MIRROR": str(mirror), **true_overrides()}
    result = run_script(repo, offline_bin, env)
    assert result.returncode != 0
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 1, result.stderr
    assert name in error_lines[0] and "checksum" in error_lines[0]
    assert digest(name, FAKE[name]) in error_lines[0]  # the expected value
    assert digest(name, bytes(tampered)) in error_lines[0]  # what it got
    assert not dest(repo, name).exists()
    assert leftovers(repo) == []
    # The other files were still handled.
    for other, data in FAKE.items():
        if other != name:
            assert dest(repo, other).read_bytes() == data


def test_absent_from_mirror_without_network(repo, mirror, offline_bin):
    (mirror / "example.avi").write_bytes(FAKE["example.avi"])
    env = {
        "SYNCNET_MIRROR": str(mirror),
        "SYNCNET_ONLY": "example.avi syncnet_v2.model",
        **true_overrides(),
    }
    result = run_script(repo, offline_bin, env)
    assert result.returncode != 0
    assert "example.avi: copied from mirror and verified" in result.stdout
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 1, result.stderr
    assert "syncnet_v2.model" in error_lines[0] and "download" in error_lines[0]
    assert URLS["syncnet_v2.model"] in error_lines[0]
    assert not dest(repo, "syncnet_v2.model").exists()
    assert not dest(repo, "sfd_face.pth").exists()  # not in SYNCNET_ONLY
    assert leftovers(repo) == []


def test_failed_download_leaves_no_partial_file(tmp_path, repo, offline_bin):
    bin_dir = tmp_path / "partial-bin"
    bin_dir.mkdir()
    write_exe(bin_dir / "curl", PARTIAL_CURL)
    path = f"{bin_dir}{os.pathsep}{offline_bin}{os.pathsep}{os.environ['PATH']}"
    result = run_script(repo, offline_bin, {"SYNCNET_ONLY": "sfd_face.pth"}, path=path)
    assert result.returncode != 0
    assert "sfd_face.pth" in result.stderr and "transfer closed" in result.stderr
    assert not dest(repo, "sfd_face.pth").exists()
    assert leftovers(repo) == []


def test_interrupted_download_leaves_no_partial_file(tmp_path, repo, offline_bin):
    bin_dir = tmp_path / "hanging-bin"
    bin_dir.mkdir()
    write_exe(bin_dir / "curl", HANGING_CURL)
    started = tmp_path / "started"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCNET_")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        SYNCNET_ONLY="syncnet_v2.model",
        FAKE_STARTED=str(started),
    )
    proc = subprocess.Popen(
        [BASH, str(repo / "download_model.sh")],
        env=env, cwd=str(tmp_path), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "fake download never started"
            time.sleep(0.05)
        assert leftovers(repo), "the partial file should exist while downloading"
        os.killpg(proc.pid, signal.SIGTERM)  # like Ctrl-C: the whole process group
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    assert not dest(repo, "syncnet_v2.model").exists()
    assert leftovers(repo) == []


# ---------------------------------------------------------------- files already present


def test_skips_present_valid_file(repo, mirror, offline_bin):
    path = dest(repo, "syncnet_v2.model")
    path.write_bytes(FAKE["syncnet_v2.model"])
    old = time.time() - 3600
    os.utime(path, (old, old))
    before = path.stat()
    # The mirror holds a different file: a skip must not copy it.
    (mirror / "syncnet_v2.model").write_bytes(b"other")
    env = {"SYNCNET_MIRROR": str(mirror), "SYNCNET_ONLY": "syncnet_v2.model", **true_overrides()}
    result = run_script(repo, offline_bin, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "syncnet_v2.model: ok (already present)"
    after = path.stat()
    assert after.st_mtime_ns == before.st_mtime_ns
    assert after.st_ino == before.st_ino
    assert path.read_bytes() == FAKE["syncnet_v2.model"]


def test_skips_present_valid_files_offline(repo, offline_bin):
    """Everything present: no network, no mirror needed."""
    for name, data in FAKE.items():
        dest(repo, name).write_bytes(data)
    result = run_script(repo, offline_bin, true_overrides())
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == sorted(f"{n}: ok (already present)" for n in FAKE)


def test_replaces_present_invalid_file(repo, mirror, offline_bin):
    path = dest(repo, "sfd_face.pth")
    path.write_bytes(b"truncated download")
    (mirror / "sfd_face.pth").write_bytes(FAKE["sfd_face.pth"])
    env = {"SYNCNET_MIRROR": str(mirror), "SYNCNET_ONLY": "sfd_face.pth", **true_overrides()}
    result = run_script(repo, offline_bin, env)
    assert result.returncode == 0, result.stderr
    assert "fails verification" in result.stdout and "fetching again" in result.stdout
    assert "sfd_face.pth: copied from mirror and verified" in result.stdout
    assert path.read_bytes() == FAKE["sfd_face.pth"]
    assert leftovers(repo) == []


def test_present_invalid_file_removed_when_refetch_fails(repo, offline_bin):
    path = dest(repo, "example.avi")
    path.write_bytes(b"not the clip")
    result = run_script(repo, offline_bin, {"SYNCNET_ONLY": "example.avi", **true_overrides()})
    assert result.returncode != 0
    assert "example.avi" in result.stderr
    assert not path.exists()
    assert leftovers(repo) == []


# ---------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "env",
    [
        {"SYNCNET_ONLY": "example.avi nonsense.bin"},
        {"SYNCNET_SHA256_EXAMPLE": "1234"},
        {"SYNCNET_GITBLOB_SFD": "z" * 40},
    ],
)
def test_usage_errors(repo, offline_bin, env):
    result = run_script(repo, offline_bin, env)
    assert result.returncode == 2
    assert result.stderr.strip()
    assert list((repo / "data").iterdir()) == []
    assert leftovers(repo) == []


def test_uppercase_override_accepted(repo, mirror, offline_bin):
    (mirror / "example.avi").write_bytes(FAKE["example.avi"])
    env = {
        "SYNCNET_MIRROR": str(mirror),
        "SYNCNET_ONLY": "example.avi",
        "SYNCNET_SHA256_EXAMPLE": sha256(FAKE["example.avi"]).upper(),
    }
    result = run_script(repo, offline_bin, env)
    assert result.returncode == 0, result.stderr
