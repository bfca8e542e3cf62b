"""Tests for download_model.sh.

The script runs as a subprocess on a temporary copy of the repository layout, so the
real data/ folder is never touched, and never reaches the network: every run gets fake
`curl` and `wget` commands first on PATH that fail at once (or, where a test says so,
serve files from a local folder). The web-mirror tests run a real HTTP(S) server on
127.0.0.1 and let the real downloader reach that address only (see LOCAL_OR_FAKE).
"""
import contextlib
import functools
import hashlib
import http.server
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
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
    unless `path` gives the whole PATH. A variable given as None in `env` is unset."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCNET_")}
    full_env["PATH"] = path if path is not None else f"{offline_bin}{os.pathsep}{os.environ['PATH']}"
    full_env.update(env or {})
    full_env = {k: v for k, v in full_env.items() if v is not None}  # None: unset it
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


# Logs its arguments to $FAKE_LOG, then fails as a failed name lookup does (offline).
UNREACHABLE = {"curl": """#!/bin/sh
echo "curl $*" >> "$FAKE_LOG"
echo "curl: (6) Could not resolve host: fake-offline" >&2
exit 6
""", "wget": """#!/bin/sh
echo "wget $*" >> "$FAKE_LOG"
echo "wget: unable to resolve host address (fake-offline)" >&2
exit 4
"""}


@pytest.mark.parametrize("downloader", ["curl", "wget"])
def test_an_unreachable_official_site_is_waited_on_once(tmp_path, repo, downloader):
    """Offline, the first download gives up after a short connect timeout, and the other files
    do not wait on the official site again; each file still gets its one line with the hint."""
    log = tmp_path / "fake.log"
    bin_dir = minimal_bin(tmp_path / "bin", BASE_TOOLS + ["sha256sum", "sha1sum"])
    write_exe(bin_dir / downloader, UNREACHABLE[downloader])
    result = run_script(repo, None, {"FAKE_LOG": str(log), **true_overrides()}, path=str(bin_dir))
    assert result.returncode == 1
    calls = log.read_text().splitlines()
    assert len(calls) == 1 and URLS["syncnet_v2.model"] in calls[0], calls
    assert ("--connect-timeout 10" if downloader == "curl" else "--connect-timeout=10 --dns-timeout=10") in calls[0]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    assert "resolve host" in lines[0]
    for name, line in zip(("example.avi", "sfd_face.pth"), lines[1:]):
        assert line.startswith(f"download_model.sh: {name}: not downloaded: the official site could not be "
                               "reached for syncnet_v2.model")
    assert all("see 'Offline' in README.md" in line for line in lines)
    assert leftovers(repo) == []


def test_an_http_error_does_not_skip_the_other_files(tmp_path, repo):
    """A 404 is an answer: the site is up, so every file is still tried there."""
    server, log = tmp_path / "server", tmp_path / "fake.log"
    server.mkdir()
    bin_dir = minimal_bin(tmp_path / "bin", BASE_TOOLS + ["sha256sum", "sha1sum"])
    write_exe(bin_dir / "curl", SERVING_CURL)
    result = run_script(repo, None, {"FAKE_SERVER": str(server), "FAKE_LOG": str(log), **true_overrides()},
                        path=str(bin_dir))
    assert result.returncode == 1
    assert len(log.read_text().splitlines()) == 3


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


# ---------------------------------------------------------------- failures point to the offline options


def test_failed_download_points_to_offline_options(repo, offline_bin):
    result = run_script(repo, offline_bin, {"SYNCNET_ONLY": "syncnet_v2.model"})
    assert result.returncode == 1
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 1, result.stderr
    line = error_lines[0]
    assert line.startswith("download_model.sh: syncnet_v2.model: download from ")
    assert URLS["syncnet_v2.model"] in line and "Could not resolve host" in line
    assert "see 'Offline' in README.md" in line and "SYNCNET_MIRROR" in line


def test_checksum_failure_is_not_a_download_failure(repo, mirror, offline_bin):
    """A file that arrived but is wrong says so, without the offline hint."""
    (mirror / "example.avi").write_bytes(b"not the clip")
    env = {"SYNCNET_MIRROR": str(mirror), "SYNCNET_ONLY": "example.avi", **true_overrides()}
    result = run_script(repo, offline_bin, env)
    assert result.returncode == 1
    assert "checksum mismatch" in result.stderr and "README" not in result.stderr


# ---------------------------------------------------------------- a web mirror (SYNCNET_MIRROR=https://...)

# Stands in for curl or wget: the real tool for URLs on the test's own server at 127.0.0.1,
# the fake serving one ($FAKE_SERVER as the official site) for any other URL. So nothing in
# these tests leaves the machine, and the script's own downloader is what talks to the mirror.
LOCAL_OR_FAKE = """#!/bin/sh
for arg in "$@"; do
    case "$arg" in
        http://*|https://*)
            host="${arg#*://}"
            host="${host%%/*}"
            case "${host##*@}" in
                127.0.0.1:*)
                    echo "local @TOOL@ $*" >> "$FAKE_LOG"
                    exec @REAL@ "$@" ;;
            esac ;;
    esac
done
exec @FAKE@ "$@"
"""

HASH_TOOLS = BASE_TOOLS + ["sha256sum", "sha1sum"]
DOWNLOADERS = ["curl", "wget", "python3"]


def closed_port():
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (certificate PEM, key PEM). It is its own CA."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    openssl = shutil.which("openssl")
    if openssl:
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, timeout=30,
        )
        return cert, key
    x509 = pytest.importorskip("cryptography.x509", reason="needs the openssl CLI or cryptography")
    import datetime
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(private.public_key()), critical=False)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert, key


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _LocalServer(http.server.ThreadingHTTPServer):
    """Serves a folder on 127.0.0.1; with `tls`, over HTTPS (handshake in the worker thread)."""

    daemon_threads = True
    tls = None

    def finish_request(self, request, client_address):
        request.settimeout(10)
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        with self.tls.wrap_socket(request, server_side=True) as conn:
            super().finish_request(conn, client_address)

    def handle_error(self, request, client_address):
        pass  # e.g. a client refusing the certificate, which some tests expect


@contextlib.contextmanager
def serve_folder(folder, cert=None):
    """Serve `folder` on 127.0.0.1 (HTTPS when `cert` is given); yields the root URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = _LocalServer(("127.0.0.1", 0), handler)
    try:
        if cert is not None:
            server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server.tls.load_cert_chain(str(cert[0]), str(cert[1]))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            scheme = "https" if cert is not None else "http"
            yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join(10)
    finally:
        server.server_close()


@pytest.fixture
def web(tmp_path, tls_cert):
    """An HTTPS mirror on 127.0.0.1 serving web.files at web.base (= https://127.0.0.1:PORT/sub),
    the fake official site web.official (empty unless a test fills it), and web.run to run the
    script with a given downloader."""
    files = tmp_path / "www" / "sub"
    files.mkdir(parents=True)
    official = tmp_path / "official"
    official.mkdir()
    log = tmp_path / "fake.log"
    log.touch()
    dead_proxy = f"http://127.0.0.1:{closed_port()}"

    def run(repo, downloader, env, base=None):
        bin_dir = tmp_path / f"bin-{downloader}"
        if not bin_dir.exists():
            minimal_bin(bin_dir, HASH_TOOLS + (["python3"] if downloader == "python3" else []))
        if downloader != "python3" and not (bin_dir / downloader).exists():
            fake = write_exe(tmp_path / f"fake-{downloader}", SERVING_CURL if downloader == "curl" else SERVING_WGET)
            real = shutil.which(downloader)
            if real is None:
                pytest.skip(f"{downloader} is not installed")
            guard = LOCAL_OR_FAKE.replace("@TOOL@", downloader).replace("@REAL@", real).replace("@FAKE@", str(fake))
            write_exe(bin_dir / downloader, guard)
        full = {
            "SYNCNET_MIRROR": base if base is not None else web.base,
            "SYNCNET_CA_BUNDLE": str(tls_cert[0]),
            "FAKE_SERVER": str(official),
            "FAKE_LOG": str(log),
            # Belt and braces for the python3 downloader, which has no fake: anything not
            # for 127.0.0.1 goes to a proxy that is not there.
            "http_proxy": dead_proxy, "https_proxy": dead_proxy,
            "HTTP_PROXY": dead_proxy, "HTTPS_PROXY": dead_proxy,
            "ALL_PROXY": None, "all_proxy": None,
            "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1",
            **env,
        }
        return run_script(repo, None, full, path=str(bin_dir), timeout=60)

    class Web:
        pass

    web = Web()
    web.files, web.official, web.log, web.run = files, official, log, run
    with serve_folder(tmp_path / "www", tls_cert) as root:
        web.base = f"{root}/sub"
        yield web


def official_calls(log):
    text = log.read_text()
    return [name for name, url in URLS.items() if url in text]


@pytest.mark.parametrize("downloader", DOWNLOADERS)
def test_web_mirror_serves_verified_files(repo, web, downloader):
    for name, data in FAKE.items():
        (web.files / name).write_bytes(data)
    result = web.run(repo, downloader, true_overrides())
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert sorted(result.stdout.splitlines()) == sorted(f"{n}: downloaded from mirror and verified" for n in FAKE)
    for name, data in FAKE.items():
        assert dest(repo, name).read_bytes() == data
        assert stat.S_IMODE(dest(repo, name).stat().st_mode) == 0o644
    assert leftovers(repo) == []
    assert official_calls(web.log) == []
    if downloader != "python3":
        assert f"local {downloader}" in web.log.read_text()


def test_plain_http_mirror_with_trailing_slash(tmp_path, repo, web):
    """http:// is accepted (the checksums guard the files); BASE/ and BASE are the same."""
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "example.avi").write_bytes(FAKE["example.avi"])
    with serve_folder(folder) as root:
        assert root.startswith("http://127.0.0.1:")
        env = {"SYNCNET_ONLY": "example.avi", "SYNCNET_CA_BUNDLE": None, **true_overrides()}
        result = web.run(repo, "curl", env, base=root + "//")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "example.avi: downloaded from mirror and verified"
    assert dest(repo, "example.avi").read_bytes() == FAKE["example.avi"]
    assert f"{root}/example.avi" in web.log.read_text()  # no double slash in the URL asked for


@pytest.mark.parametrize("downloader", DOWNLOADERS)
def test_web_mirror_refuses_tampered_file(repo, web, downloader):
    for name, data in FAKE.items():
        (web.files / name).write_bytes(data)
    tampered = bytearray(FAKE["syncnet_v2.model"])
    tampered[100] ^= 0x80
    (web.files / "syncnet_v2.model").write_bytes(bytes(tampered))
    (web.official / "syncnet_v2.model").write_bytes(FAKE["syncnet_v2.model"])  # must not be used
    result = web.run(repo, downloader, true_overrides())
    assert result.returncode == 1
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 1, result.stderr
    line = error_lines[0]
    assert line.startswith("download_model.sh: syncnet_v2.model: checksum mismatch")
    assert f"{web.base}/syncnet_v2.model" in line
    assert sha256(FAKE["syncnet_v2.model"]) in line and sha256(bytes(tampered)) in line
    assert not dest(repo, "syncnet_v2.model").exists()
    assert leftovers(repo) == []
    assert official_calls(web.log) == []  # a bad mirror file is an error, not a reason to fall back
    for name in ("example.avi", "sfd_face.pth"):
        assert dest(repo, name).read_bytes() == FAKE[name]


@pytest.mark.parametrize("downloader", ["curl", "wget"])
def test_web_mirror_missing_file_falls_back_to_official_site(repo, web, downloader):
    for name, data in FAKE.items():
        if name != "syncnet_v2.model":
            (web.files / name).write_bytes(data)
        (web.official / name).write_bytes(data)
    result = web.run(repo, downloader, true_overrides())
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (f"syncnet_v2.model: not on the mirror (HTTP 404 for {web.base}/syncnet_v2.model); "
            "downloaded from the official site and verified") in result.stdout.splitlines()
    assert "example.avi: downloaded from mirror and verified" in result.stdout
    assert "sfd_face.pth: downloaded from mirror and verified" in result.stdout
    for name, data in FAKE.items():
        assert dest(repo, name).read_bytes() == data
    assert official_calls(web.log) == ["syncnet_v2.model"]
    assert leftovers(repo) == []


@pytest.mark.parametrize("downloader", DOWNLOADERS)
def test_web_mirror_missing_file_and_official_site_down(repo, web, downloader):
    """Not on the mirror and the official site fails too: one line saying both."""
    result = web.run(repo, downloader, {"SYNCNET_ONLY": "sfd_face.pth", **true_overrides()})
    assert result.returncode == 1
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 1, result.stderr
    line = error_lines[0]
    assert line.startswith(f"download_model.sh: sfd_face.pth: not on the mirror (HTTP 404 for {web.base}/sfd_face.pth), "
                           f"and download from {URLS['sfd_face.pth']} failed")
    assert "see 'Offline' in README.md" in line
    assert not dest(repo, "sfd_face.pth").exists()
    assert leftovers(repo) == []


@pytest.mark.parametrize("downloader", DOWNLOADERS)
def test_web_mirror_untrusted_certificate_fails(repo, web, downloader):
    """Without SYNCNET_CA_BUNDLE the self-signed certificate is refused, and the file fails:
    a broken mirror is reported, not bypassed."""
    (web.files / "example.avi").write_bytes(FAKE["example.avi"])
    (web.official / "example.avi").write_bytes(FAKE["example.avi"])
    env = {"SYNCNET_ONLY": "example.avi", "SYNCNET_CA_BUNDLE": None, **true_overrides()}
    for name in ("CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "WGETRC"):
        env[name] = None
    result = web.run(repo, downloader, env)
    assert result.returncode == 1
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 1, result.stderr
    line = error_lines[0]
    assert line.startswith(f"download_model.sh: example.avi: download from mirror {web.base}/example.avi failed (")
    assert "certificate" in line.lower()  # the downloader's own reason, not its advice
    assert "see 'Offline' in README.md" in line
    assert not dest(repo, "example.avi").exists()
    assert leftovers(repo) == []
    assert official_calls(web.log) == []


def test_web_mirror_unreachable_fails_without_fallback(repo, web):
    for name, data in FAKE.items():
        (web.official / name).write_bytes(data)
    base = f"https://127.0.0.1:{closed_port()}/sub"
    result = web.run(repo, "curl", true_overrides(), base=base)
    assert result.returncode == 1
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 3, result.stderr
    for name, line in zip(FAKE, error_lines):
        assert line.startswith(f"download_model.sh: {name}: download from mirror {base}/{name} failed (curl exit 7")
    assert official_calls(web.log) == []
    for name in FAKE:
        assert not dest(repo, name).exists()
    assert leftovers(repo) == []


def test_web_mirror_password_not_shown(repo, web):
    (web.files / "example.avi").write_bytes(b"tampered")
    base = web.base.replace("https://", "https://someone:s3cret@")
    result = web.run(repo, "curl", {"SYNCNET_ONLY": "example.avi", **true_overrides()}, base=base)
    assert result.returncode == 1
    assert "checksum mismatch" in result.stderr
    assert web.base.replace("https://", "https://***@") + "/example.avi" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "value, expected",
    [
        ("ftp://127.0.0.1/sub", "'ftp:' is not supported"),
        ("FTP://127.0.0.1/sub", "'ftp:' is not supported"),
        ("gopher:sub", "'gopher:' is not supported"),
        ("file:///srv/syncnet", "file: URLs are not supported; give the folder itself, e.g. SYNCNET_MIRROR=/srv/syncnet"),
        ("file://localhost/srv/syncnet", "e.g. SYNCNET_MIRROR=/srv/syncnet"),
        ("file:/srv/syncnet", "e.g. SYNCNET_MIRROR=/srv/syncnet"),
        ("https://", "is not a usable base URL"),
        ("https:/127.0.0.1/sub", "is not a usable base URL"),
        ("https://127.0.0.1/sub?token=1", "is not a usable base URL"),
        ("http://127.0.0.1/my mirror", "is not a usable base URL"),
    ],
)
def test_mirror_url_usage_errors(repo, offline_bin, value, expected):
    result = run_script(repo, offline_bin, {"SYNCNET_MIRROR": value, **true_overrides()}, timeout=30)
    assert result.returncode == 2
    assert result.stdout == ""  # refused before any file is handled
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 1, result.stderr
    assert error_lines[0].startswith("download_model.sh: SYNCNET_MIRROR: ")
    assert expected in error_lines[0]
    assert list((repo / "data").iterdir()) == []


def test_existing_folder_wins_over_url_look(tmp_path, repo, offline_bin):
    """A folder whose name starts like a URL is still a folder."""
    folder = tmp_path / "ftp:" / "sub"
    folder.mkdir(parents=True)
    (folder / "example.avi").write_bytes(FAKE["example.avi"])
    env = {"SYNCNET_MIRROR": "ftp://sub", "SYNCNET_ONLY": "example.avi", **true_overrides()}
    result = run_script(repo, offline_bin, env, cwd=tmp_path, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "example.avi: copied from mirror and verified"


def test_ca_bundle_must_be_readable(tmp_path, repo, offline_bin):
    env = {"SYNCNET_MIRROR": "https://127.0.0.1:1/sub", "SYNCNET_CA_BUNDLE": str(tmp_path / "missing.pem")}
    result = run_script(repo, offline_bin, env, timeout=30)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == f"download_model.sh: SYNCNET_CA_BUNDLE: {tmp_path / 'missing.pem'} is not a readable file"
