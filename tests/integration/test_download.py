"""syncnet-download (and download_model.sh, which runs it): in-process, against real servers on
127.0.0.1 only.

Every test runs in a temporary checkout (paths.CODE_ROOT points at it), so the real data/ is
never touched, and the official site's URLs point at a port on 127.0.0.1 that nothing listens on,
unless a test serves them itself: nothing here leaves the machine.
"""
import base64
import contextlib
import dataclasses
import hashlib
import http.server
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time

import pytest

from syncnet.cli.download import main
from syncnet.models import download as downloader
from syncnet.models.files import MODEL_FILES, git_blob_id_of
from tests.helpers import REPO_ROOT

PROG = "syncnet-download"
NAMES = list(MODEL_FILES)

# Small stand-ins with NUL bytes, newlines and high bytes, so hashing must be byte-exact.
FAKE = {
    "syncnet_v2.model": b"fake syncnet weights\x00\x01\x02\n" + bytes(range(256)) * 3,
    "example.avi": b"RIFF\x00\x00\x00\x00AVI fake clip\r\n\x00" * 40,
    "sfd_face.pth": b"PK\x03\x04 fake s3fd\x00\n\xff\xfe" + bytes(range(255, -1, -1)) * 2,
}


def digest(name, data):
    """The digest of `data` of the kind MODEL_FILES names for `name`, computed here independently:
    SHA-256, or git's blob id, sha1(b"blob <size>\\0" + data)."""
    if MODEL_FILES[name].kind == "git blob id":
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return hashlib.sha256(data).hexdigest()


def true_overrides(files=FAKE):
    """The checksum override variables, set to the digests of the stand-ins."""
    return {MODEL_FILES[name].override: digest(name, data) for name, data in files.items()}


def closed_port():
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def file_mode():
    """What a plain new file gets under this process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


# ---------------------------------------------------------------- servers on 127.0.0.1


class Site:
    """A web server on 127.0.0.1 in a thread. It serves `files` (URL path -> bytes) and answers
    404 for any other path; `answers` (path -> list) gives the next answers for a path first: an
    HTTP status, ("redirect", path), "partial" (a body cut short) or "hang" (no answer until the
    test ends). `requests` lists (path, Authorization header) of every request."""

    def __init__(self, tls=None):
        self.files, self.answers, self.requests = {}, {}, []
        self.released = threading.Event()
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                site.requests.append((self.path, self.headers.get("Authorization")))
                queued = site.answers.get(self.path)
                answer = queued.pop(0) if queued else None
                if answer == "hang":
                    site.released.wait(30)
                    return
                if isinstance(answer, tuple):
                    self.send_response(302)
                    self.send_header("Location", answer[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if isinstance(answer, int) or self.path not in site.files:
                    self.send_error(answer or 404)
                    return
                body = site.files[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + (100 if answer == "partial" else 0)))
                self.end_headers()
                self.wfile.write(body)
                if answer == "partial":
                    self.close_connection = True

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request, client_address):
                request.settimeout(10)
                if tls is None:
                    super().finish_request(request, client_address)
                    return
                with tls.wrap_socket(request, server_side=True) as conn:  # the handshake in the worker thread
                    super().finish_request(conn, client_address)

            def handle_error(self, request, client_address):
                pass  # e.g. a client refusing the certificate, which some tests expect

        self.server = Server(("127.0.0.1", 0), Handler)
        self.root = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_address[1]}"

    def paths(self):
        return [path for path, _ in self.requests]

    @contextlib.contextmanager
    def running(self):
        thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.released.set()
            self.server.shutdown()
            self.server.server_close()
            thread.join(10)


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (certificate PEM, key PEM). It is its own CA."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    openssl = shutil.which("openssl")
    if openssl:
        subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
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
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


# ---------------------------------------------------------------- the checkout, the official site


@pytest.fixture(autouse=True)
def checkout(tmp_path, monkeypatch):
    """A temporary checkout (the marker download_model.sh and nothing else) as the code's root;
    no SYNCNET_ setting or proxy from the caller's environment; the official site offline; no
    waits between retries."""
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "download_model.sh").write_text("")
    monkeypatch.setattr("syncnet.models.paths.CODE_ROOT", root)
    settings = ["SYNCNET_MIRROR", "SYNCNET_CA_BUNDLE", "SYNCNET_ONLY", "SYNCNET_DEST", "SYNCNET_CACHE",
                *(spec.override for spec in MODEL_FILES.values())]
    for name in list(os.environ):
        if name in settings or name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(downloader, "RETRY_WAITS_S", (0, 0, 0))
    point_official_at(monkeypatch, f"http://127.0.0.1:{closed_port()}/lipsync")
    return root


def point_official_at(monkeypatch, base):
    """The official site's URLs made BASE/NAME."""
    moved = {name: dataclasses.replace(spec, url=f"{base}/{name}") for name, spec in MODEL_FILES.items()}
    monkeypatch.setattr(downloader, "MODEL_FILES", moved)
    return moved


@pytest.fixture
def official(monkeypatch):
    """The official site, served from 127.0.0.1 under /lipsync/: site.files holds what it has."""
    with Site().running() as site:
        point_official_at(monkeypatch, f"{site.root}/lipsync")
        yield site


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    folder = tmp_path / "mirror"
    folder.mkdir()
    monkeypatch.setenv("SYNCNET_MIRROR", str(folder))
    return folder


def dest(root, name):
    return root / MODEL_FILES[name].checkout_path


def leftovers(folder):
    """Temporary download files anywhere below `folder`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.part*"))


def run(capsys, monkeypatch, env=None):
    """syncnet-download in this process with `env` set: (exit status, stdout, stderr)."""
    for name, value in (env or {}).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    status = main([])
    out, err = capsys.readouterr()
    return status, out, err


def fill(folder, files=FAKE, prefix=""):
    for name, data in files.items():
        (folder / f"{prefix}{name}").write_bytes(data)


# ---------------------------------------------------------------- the table and the checksums


def test_every_file_has_a_place_a_url_and_a_well_formed_digest():
    assert NAMES == ["syncnet_v2.model", "example.avi", "sfd_face.pth"]
    for spec in MODEL_FILES.values():
        assert spec.url.startswith(("http://", "https://")) and spec.url.endswith("/" + spec.name)
        assert spec.checkout_path.endswith("/" + spec.name)
        assert len(spec.digest) == spec.digest_length and int(spec.digest, 16) >= 0


@pytest.mark.parametrize("data", [FAKE["sfd_face.pth"], b"", b"\x00" * 1000, b"no newline"])
def test_git_blob_id_is_what_git_hash_object_prints(tmp_path, capsys, monkeypatch, checkout, mirror, data):
    fixture = tmp_path / "fixture.bin"
    fixture.write_bytes(data)
    git = subprocess.run(["git", "hash-object", "--no-filters", str(fixture)], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert git_blob_id_of(fixture) == git == digest("sfd_face.pth", data)
    # ... and the downloader accepts the file exactly when told git's id.
    shutil.copy(fixture, mirror / "sfd_face.pth")
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "sfd_face.pth", "SYNCNET_GITBLOB_SFD": git})
    assert status == 0, err
    assert dest(checkout, "sfd_face.pth").read_bytes() == data


def test_git_blob_id_of_a_real_clip(clip):
    path = clip("example.avi")
    git = subprocess.run(["git", "hash-object", "--no-filters", str(path)], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert git_blob_id_of(path) == git


# ---------------------------------------------------------------- a mirror folder


def test_accepts_good_files_from_a_mirror_folder(capsys, monkeypatch, checkout, mirror):
    fill(mirror)
    status, out, err = run(capsys, monkeypatch, true_overrides())
    assert (status, err) == (0, "")
    assert out.splitlines() == [f"{name}: copied from mirror and verified" for name in NAMES]
    for name, data in FAKE.items():
        assert dest(checkout, name).read_bytes() == data
        assert stat.S_IMODE(dest(checkout, name).stat().st_mode) == file_mode()  # not mkstemp's owner-only
    assert leftovers(checkout) == []


def test_the_real_example_clip_passes_the_official_checksum(capsys, monkeypatch, checkout, clip):
    source = clip("example.avi")
    status, out, err = run(capsys, monkeypatch, {"SYNCNET_MIRROR": str(source.parent), "SYNCNET_ONLY": "example.avi"})
    assert status == 0, err
    assert out == "example.avi: copied from mirror and verified\n"
    assert dest(checkout, "example.avi").read_bytes() == source.read_bytes()
    assert not dest(checkout, "syncnet_v2.model").exists() and not dest(checkout, "sfd_face.pth").exists()


def test_without_overrides_the_official_checksums_apply(capsys, monkeypatch, checkout, mirror):
    fill(mirror)
    status, out, err = run(capsys, monkeypatch)
    assert status == 1 and out == ""
    for name in NAMES:
        assert not dest(checkout, name).exists()
        assert MODEL_FILES[name].digest in err
    assert leftovers(checkout) == []


def test_a_relative_mirror_from_another_folder(tmp_path, capsys, monkeypatch, checkout, mirror):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    fill(mirror)
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_MIRROR": os.path.relpath(mirror, elsewhere),
                                               "SYNCNET_ONLY": "example.avi", **true_overrides()})
    assert status == 0, err
    assert dest(checkout, "example.avi").read_bytes() == FAKE["example.avi"]
    assert list(elsewhere.iterdir()) == []


def test_missing_destination_folders_are_made(capsys, monkeypatch, checkout, mirror):
    fill(mirror)
    status, _, err = run(capsys, monkeypatch, true_overrides())
    assert status == 0, err
    assert (checkout / "detectors" / "s3fd" / "weights" / "sfd_face.pth").is_file()


def test_an_existing_folder_wins_over_a_url_look(tmp_path, capsys, monkeypatch, checkout):
    folder = tmp_path / "ftp:" / "sub"
    folder.mkdir(parents=True)
    fill(folder, {"example.avi": FAKE["example.avi"]})
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, monkeypatch, {"SYNCNET_MIRROR": "ftp://sub", "SYNCNET_ONLY": "example.avi",
                                                 **true_overrides()})
    assert status == 0, err
    assert out == "example.avi: copied from mirror and verified\n"


def test_a_mirror_that_is_no_folder_is_warned_about_and_ignored(tmp_path, capsys, monkeypatch, checkout, official):
    official.files["/lipsync/example.avi"] = FAKE["example.avi"]
    status, out, err = run(capsys, monkeypatch, {"SYNCNET_MIRROR": str(tmp_path / "missing"),
                                                 "SYNCNET_ONLY": "example.avi", **true_overrides()})
    assert status == 0
    assert err == f"{PROG}: WARNING: SYNCNET_MIRROR: {tmp_path / 'missing'} is not a folder; downloading instead\n"
    assert out == "example.avi: downloaded and verified\n"


# ---------------------------------------------------------------- SYNCNET_DEST, and an installed package


def test_dest_puts_the_files_flat_in_a_folder(tmp_path, capsys, monkeypatch, checkout, mirror):
    fill(mirror)
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_DEST": str(tmp_path / "cache"), **true_overrides()})
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(NAMES)
    assert not (checkout / "data").exists() and not (checkout / "detectors").exists()


def test_a_relative_dest_is_from_the_current_folder(tmp_path, capsys, monkeypatch, checkout, mirror):
    fill(mirror)
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_DEST": "mine", "SYNCNET_ONLY": "example.avi",
                                               **true_overrides()})
    assert status == 0, err
    assert (tmp_path / "mine" / "example.avi").read_bytes() == FAKE["example.avi"]


def test_installed_the_files_go_to_the_model_cache(tmp_path, capsys, monkeypatch, mirror):
    monkeypatch.setattr("syncnet.models.paths.CODE_ROOT", tmp_path / "site-packages")  # no download_model.sh
    monkeypatch.setenv("SYNCNET_CACHE", str(tmp_path / "cache"))
    fill(mirror)
    status, _, err = run(capsys, monkeypatch, true_overrides())
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(NAMES)


# ---------------------------------------------------------------- the official site


def test_a_file_the_mirror_lacks_is_downloaded_from_the_official_site(capsys, monkeypatch, checkout, mirror,
                                                                      official):
    fill(mirror, {"example.avi": FAKE["example.avi"]})
    fill_site(official, "/lipsync/")
    status, out, err = run(capsys, monkeypatch, true_overrides())
    assert (status, err) == (0, "")
    assert out.splitlines() == ["syncnet_v2.model: downloaded and verified",
                                "example.avi: copied from mirror and verified", "sfd_face.pth: downloaded and verified"]
    for name, data in FAKE.items():
        assert dest(checkout, name).read_bytes() == data
    assert official.paths() == ["/lipsync/syncnet_v2.model", "/lipsync/sfd_face.pth"]
    assert leftovers(checkout) == []


def fill_site(site, prefix, files=FAKE):
    for name, data in files.items():
        site.files[prefix + name] = data


def test_redirects_are_followed(capsys, monkeypatch, checkout, official):
    official.files["/moved/example.avi"] = FAKE["example.avi"]
    official.answers["/lipsync/example.avi"] = [("redirect", "/moved/example.avi")]
    status, out, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "example.avi", **true_overrides()})
    assert status == 0, err
    assert out == "example.avi: downloaded and verified\n"


def test_a_transient_error_is_tried_again(capsys, monkeypatch, checkout, official):
    fill_site(official, "/lipsync/")
    official.answers["/lipsync/example.avi"] = [503, "partial", 429]
    status, out, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "example.avi", **true_overrides()})
    assert status == 0, err
    assert official.paths() == ["/lipsync/example.avi"] * 4
    assert dest(checkout, "example.avi").read_bytes() == FAKE["example.avi"]


def test_a_transfer_that_keeps_breaking_off_leaves_no_partial_file(capsys, monkeypatch, checkout, official):
    fill_site(official, "/lipsync/")
    official.answers["/lipsync/sfd_face.pth"] = ["partial"] * 4
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "sfd_face.pth", **true_overrides()})
    assert status == 1
    assert err.startswith(f"{PROG}: sfd_face.pth: download from {official.root}/lipsync/sfd_face.pth failed "
                          "(the transfer broke off: ")
    assert not dest(checkout, "sfd_face.pth").exists() and leftovers(checkout) == []


def test_an_http_error_is_an_answer_so_every_file_is_still_tried(capsys, monkeypatch, checkout, official):
    status, out, err = run(capsys, monkeypatch, true_overrides())
    assert status == 1 and out == ""
    assert official.paths() == [f"/lipsync/{name}" for name in NAMES]
    assert [line.split(" failed (")[1].split(")")[0] for line in err.splitlines()] == ["HTTP 404 Not Found"] * 3


def test_an_unreachable_official_site_is_waited_on_once(capsys, monkeypatch, checkout, official):
    """Offline, the first download gives up after the timeout, and the other files do not wait
    on the official site again; each file still gets its one line with the offline hint."""
    monkeypatch.setattr(downloader, "TIMEOUT_S", 0.5)
    for name in NAMES:
        official.answers[f"/lipsync/{name}"] = ["hang"]
    started = time.monotonic()
    status, out, err = run(capsys, monkeypatch, true_overrides())
    assert time.monotonic() - started < 5
    assert status == 1 and out == ""
    assert official.paths() == ["/lipsync/syncnet_v2.model"]
    lines = err.splitlines()
    assert lines[0].startswith(f"{PROG}: syncnet_v2.model: download from {official.root}/lipsync/syncnet_v2.model "
                               "failed (timed out)")
    for name, line in zip(NAMES[1:], lines[1:], strict=True):
        assert line.startswith(f"{PROG}: {name}: not downloaded: the official site could not be reached for "
                               "syncnet_v2.model")
    assert all(line.endswith(downloader.OFFLINE_HINT) for line in lines)
    assert leftovers(checkout) == []


def test_a_failed_download_points_to_the_offline_options(capsys, monkeypatch, checkout):
    status, out, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "syncnet_v2.model"})
    assert status == 1 and out == ""
    url = downloader.MODEL_FILES["syncnet_v2.model"].url
    assert err == (f"{PROG}: syncnet_v2.model: download from {url} failed (Connection refused); the file was not "
                   f"kept; {downloader.OFFLINE_HINT}\n")
    assert "see 'Offline' in README.md" in err and "SYNCNET_MIRROR" in err


def test_a_file_absent_from_the_mirror_fails_offline_and_the_others_go_on(capsys, monkeypatch, checkout, mirror):
    fill(mirror, {"example.avi": FAKE["example.avi"]})
    status, out, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "example.avi syncnet_v2.model", **true_overrides()})
    assert status == 1
    assert out == "example.avi: copied from mirror and verified\n"
    assert err.count("\n") == 1 and err.startswith(f"{PROG}: syncnet_v2.model: download from ")
    assert not dest(checkout, "syncnet_v2.model").exists() and not dest(checkout, "sfd_face.pth").exists()


def test_an_interrupted_download_leaves_no_partial_file(capsys, monkeypatch, checkout, official):
    """Ctrl-C (or SIGTERM, which the commands turn into it) in the middle of a download."""
    fill_site(official, "/lipsync/")

    class InterruptedBar:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, count):
            assert leftovers(checkout), "the partial file should exist while downloading"
            raise KeyboardInterrupt

    monkeypatch.setattr(downloader, "progress_bar", InterruptedBar)
    with pytest.raises(SystemExit) as stopped:
        run(capsys, monkeypatch, {"SYNCNET_ONLY": "syncnet_v2.model", **true_overrides()})
    assert stopped.value.code == 130
    assert "interrupted" in capsys.readouterr().err
    assert not dest(checkout, "syncnet_v2.model").exists() and leftovers(checkout) == []


def test_the_progress_bar_counts_the_bytes(capsys, monkeypatch, checkout, official):
    fill_site(official, "/lipsync/")
    bars = []

    class Bar:
        def __init__(self, total, desc, unit, quiet, unit_scale):
            self.total, self.desc, self.unit, self.quiet, self.unit_scale, self.n = total, desc, unit, quiet, \
                unit_scale, 0
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, count):
            self.n += count

    monkeypatch.setattr(downloader, "progress_bar", Bar)
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "example.avi", **true_overrides()})
    assert status == 0, err
    [bar] = bars
    size = len(FAKE["example.avi"])
    assert (bar.desc, bar.unit, bar.unit_scale, bar.total, bar.n, bar.quiet) == ("example.avi", "B", True, size,
                                                                                  size, False)


# ---------------------------------------------------------------- bad files


@pytest.mark.parametrize("name", NAMES)
def test_a_tampered_file_is_refused_and_the_others_are_kept(capsys, monkeypatch, checkout, mirror, name):
    fill(mirror)
    tampered = bytearray(FAKE[name])
    tampered[len(tampered) // 2] ^= 0x01
    (mirror / name).write_bytes(bytes(tampered))
    status, _, err = run(capsys, monkeypatch, true_overrides())
    assert status == 1
    assert err == (f"{PROG}: {name}: checksum mismatch ({MODEL_FILES[name].kind} expected {digest(name, FAKE[name])}, "
                   f"got {digest(name, bytes(tampered))}, from mirror file {mirror / name}); the file was not kept\n")
    assert "README" not in err, "a file that arrived but is wrong is no download failure"
    assert not dest(checkout, name).exists() and leftovers(checkout) == []
    for other in NAMES:
        if other != name:
            assert dest(checkout, other).read_bytes() == FAKE[other]


# ---------------------------------------------------------------- files already there


def test_a_valid_file_is_left_alone(capsys, monkeypatch, checkout, mirror):
    path = dest(checkout, "syncnet_v2.model")
    path.parent.mkdir(parents=True)
    path.write_bytes(FAKE["syncnet_v2.model"])
    old = time.time() - 3600
    os.utime(path, (old, old))
    before = path.stat()
    (mirror / "syncnet_v2.model").write_bytes(b"other")  # a skip must not copy it
    status, out, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "syncnet_v2.model", **true_overrides()})
    assert status == 0, err
    assert out == "syncnet_v2.model: ok (already present)\n"
    after = path.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)


def test_valid_files_need_no_network(capsys, monkeypatch, checkout):
    for name, data in FAKE.items():
        dest(checkout, name).parent.mkdir(parents=True, exist_ok=True)
        dest(checkout, name).write_bytes(data)
    status, out, err = run(capsys, monkeypatch, true_overrides())
    assert (status, err) == (0, "")
    assert out.splitlines() == [f"{name}: ok (already present)" for name in NAMES]


def test_an_invalid_file_is_fetched_again(capsys, monkeypatch, checkout, mirror):
    path = dest(checkout, "sfd_face.pth")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated download")
    fill(mirror)
    status, out, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "sfd_face.pth", **true_overrides()})
    assert status == 0, err
    assert out.splitlines() == [
        f"sfd_face.pth: present but fails verification (git blob id {digest('sfd_face.pth', b'truncated download')}, "
        f"expected {digest('sfd_face.pth', FAKE['sfd_face.pth'])}); fetching again",
        "sfd_face.pth: copied from mirror and verified"]
    assert path.read_bytes() == FAKE["sfd_face.pth"] and leftovers(checkout) == []


def test_an_invalid_file_is_removed_when_fetching_it_again_fails(capsys, monkeypatch, checkout):
    path = dest(checkout, "example.avi")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the clip")
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "example.avi", **true_overrides()})
    assert status == 1
    assert f"the file was not kept, and the invalid existing {path} was removed; " in err
    assert not path.exists() and leftovers(checkout) == []


def test_a_destination_that_is_no_file_is_left_alone(capsys, monkeypatch, checkout, mirror):
    dest(checkout, "example.avi").mkdir(parents=True)
    fill(mirror)
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "example.avi", **true_overrides()})
    assert status == 1
    where = dest(checkout, "example.avi")
    assert err == f"{PROG}: example.avi: {where} exists but is not a regular file; left it alone\n"
    assert dest(checkout, "example.avi").is_dir()


# ---------------------------------------------------------------- malformed settings


@pytest.mark.parametrize("env, message", [
    ({"SYNCNET_ONLY": "example.avi nonsense.bin"},
     "SYNCNET_ONLY: unknown file 'nonsense.bin' (known: syncnet_v2.model example.avi sfd_face.pth)"),
    ({"SYNCNET_SHA256_EXAMPLE": "1234"}, "SYNCNET_SHA256_EXAMPLE must be 64 hexadecimal digits, got '1234'"),
    ({"SYNCNET_GITBLOB_SFD": "z" * 40}, f"SYNCNET_GITBLOB_SFD must be 40 hexadecimal digits, got '{'z' * 40}'"),
    ({"SYNCNET_MIRROR": "ftp://127.0.0.1/sub"}, "'ftp:' is not supported"),
    ({"SYNCNET_MIRROR": "FTP://127.0.0.1/sub"}, "'ftp:' is not supported"),
    ({"SYNCNET_MIRROR": "gopher:sub"}, "'gopher:' is not supported"),
    ({"SYNCNET_MIRROR": "file:///srv/syncnet"},
     "SYNCNET_MIRROR: file: URLs are not supported; give the folder itself, e.g. SYNCNET_MIRROR=/srv/syncnet"),
    ({"SYNCNET_MIRROR": "file://localhost/srv/syncnet"}, "e.g. SYNCNET_MIRROR=/srv/syncnet"),
    ({"SYNCNET_MIRROR": "file:/srv/syncnet"}, "e.g. SYNCNET_MIRROR=/srv/syncnet"),
    ({"SYNCNET_MIRROR": "https://"}, "is not a usable base URL"),
    ({"SYNCNET_MIRROR": "https:/127.0.0.1/sub"}, "is not a usable base URL"),
    ({"SYNCNET_MIRROR": "https://127.0.0.1/sub?token=1"}, "is not a usable base URL"),
    ({"SYNCNET_MIRROR": "http://127.0.0.1/my mirror"},
     "SYNCNET_MIRROR: 'http://127.0.0.1/my mirror' is not a usable base URL (expected http://HOST[:PORT]/PATH, "
     "without spaces, '?' or '#')"),
    ({"SYNCNET_MIRROR": "https://127.0.0.1:1/sub", "SYNCNET_CA_BUNDLE": "/no/such/ca.pem"},
     "SYNCNET_CA_BUNDLE: /no/such/ca.pem is not a readable file"),
])
def test_a_malformed_setting_is_one_line_and_exit_2_before_any_file(capsys, monkeypatch, checkout, env, message):
    status, out, err = run(capsys, monkeypatch, env)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"{PROG}: ") and message in err, err
    assert list(checkout.iterdir()) == [checkout / "download_model.sh"]


def test_an_uppercase_override_is_accepted(capsys, monkeypatch, checkout, mirror):
    fill(mirror)
    upper = digest("example.avi", FAKE["example.avi"]).upper()
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "example.avi", "SYNCNET_SHA256_EXAMPLE": upper})
    assert status == 0, err


# ---------------------------------------------------------------- a web mirror


@pytest.fixture
def web(tls_cert, monkeypatch):
    """An HTTPS mirror on 127.0.0.1 serving web.files at web.base (= https://127.0.0.1:PORT/sub),
    trusted through SYNCNET_CA_BUNDLE."""
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(str(tls_cert[0]), str(tls_cert[1]))
    with Site(tls).running() as site:
        site.base = f"{site.root}/sub"
        monkeypatch.setenv("SYNCNET_MIRROR", site.base)
        monkeypatch.setenv("SYNCNET_CA_BUNDLE", str(tls_cert[0]))
        yield site


def test_a_web_mirror_serves_verified_files(capsys, monkeypatch, checkout, web, official):
    fill_site(web, "/sub/")
    status, out, err = run(capsys, monkeypatch, true_overrides())
    assert (status, err) == (0, "")
    assert out.splitlines() == [f"{name}: downloaded from mirror and verified" for name in NAMES]
    for name, data in FAKE.items():
        assert dest(checkout, name).read_bytes() == data
        assert stat.S_IMODE(dest(checkout, name).stat().st_mode) == file_mode()
    assert official.requests == [] and leftovers(checkout) == []


def test_a_plain_http_mirror_with_a_trailing_slash(capsys, monkeypatch, checkout):
    """http:// is accepted (the checksums guard the files); BASE/ and BASE are the same."""
    with Site().running() as site:
        site.files["/example.avi"] = FAKE["example.avi"]
        status, out, err = run(capsys, monkeypatch, {"SYNCNET_MIRROR": site.root + "//", "SYNCNET_ONLY": "example.avi",
                                                     **true_overrides()})
    assert status == 0, err
    assert out == "example.avi: downloaded from mirror and verified\n"
    assert site.paths() == ["/example.avi"]  # no double slash in the URL asked for


def test_a_web_mirror_file_that_fails_its_checksum_is_no_reason_to_fall_back(capsys, monkeypatch, checkout, web,
                                                                            official):
    fill_site(web, "/sub/")
    tampered = bytearray(FAKE["syncnet_v2.model"])
    tampered[100] ^= 0x80
    web.files["/sub/syncnet_v2.model"] = bytes(tampered)
    fill_site(official, "/lipsync/")  # must not be used
    status, _, err = run(capsys, monkeypatch, true_overrides())
    assert status == 1
    expected, got = digest("syncnet_v2.model", FAKE["syncnet_v2.model"]), digest("syncnet_v2.model", tampered)
    assert err == (f"{PROG}: syncnet_v2.model: checksum mismatch (SHA-256 expected {expected}, got {got}, "
                   f"from mirror {web.base}/syncnet_v2.model); the file was not kept\n")
    assert official.requests == []
    assert not dest(checkout, "syncnet_v2.model").exists() and leftovers(checkout) == []
    for name in NAMES[1:]:
        assert dest(checkout, name).read_bytes() == FAKE[name]


@pytest.mark.parametrize("code", [404, 410])
def test_a_file_the_web_mirror_lacks_comes_from_the_official_site(capsys, monkeypatch, checkout, web, official, code):
    fill_site(web, "/sub/", {name: FAKE[name] for name in NAMES[1:]})
    web.answers["/sub/syncnet_v2.model"] = [code]
    fill_site(official, "/lipsync/")
    status, out, err = run(capsys, monkeypatch, true_overrides())
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        f"syncnet_v2.model: not on the mirror (HTTP {code} for {web.base}/syncnet_v2.model); downloaded from the "
        "official site and verified",
        "example.avi: downloaded from mirror and verified", "sfd_face.pth: downloaded from mirror and verified"]
    assert official.paths() == ["/lipsync/syncnet_v2.model"]
    assert leftovers(checkout) == []


def test_a_file_neither_the_web_mirror_nor_the_official_site_has(capsys, monkeypatch, checkout, web):
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "sfd_face.pth", **true_overrides()})
    assert status == 1
    url = downloader.MODEL_FILES["sfd_face.pth"].url
    assert err.startswith(f"{PROG}: sfd_face.pth: not on the mirror (HTTP 404 for {web.base}/sfd_face.pth), and "
                          f"download from {url} failed (Connection refused)")
    assert err.endswith(downloader.OFFLINE_HINT + "\n")
    assert not dest(checkout, "sfd_face.pth").exists() and leftovers(checkout) == []


def test_an_untrusted_certificate_fails_the_file_without_falling_back(capsys, monkeypatch, checkout, web, official):
    """Without SYNCNET_CA_BUNDLE the self-signed certificate is refused: a broken mirror is
    reported, not bypassed."""
    web.files["/sub/example.avi"] = official.files["/lipsync/example.avi"] = FAKE["example.avi"]
    for name in ("SYNCNET_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "example.avi", **true_overrides()})
    assert status == 1
    assert err.startswith(f"{PROG}: example.avi: download from mirror {web.base}/example.avi failed (")
    assert "certificate" in err.lower() and err.endswith(downloader.OFFLINE_HINT + "\n")
    assert official.requests == [] and not dest(checkout, "example.avi").exists() and leftovers(checkout) == []


def test_a_ca_bundle_that_holds_no_certificate_fails_the_mirror_files(tmp_path, capsys, monkeypatch, checkout, web):
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_CA_BUNDLE": str(tmp_path / "junk.pem"),
                                               "SYNCNET_ONLY": "example.avi", **true_overrides()})
    assert status == 1
    assert err.startswith(f"{PROG}: example.avi: download from mirror {web.base}/example.avi failed (cannot use the "
                          f"CA certificates in {tmp_path / 'junk.pem'}: ")


def test_an_unreachable_web_mirror_fails_each_file_without_falling_back(capsys, monkeypatch, checkout, official):
    fill_site(official, "/lipsync/")
    base = f"https://127.0.0.1:{closed_port()}/sub"
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_MIRROR": base, **true_overrides()})
    assert status == 1
    for name, line in zip(NAMES, err.splitlines(), strict=True):
        assert line.startswith(f"{PROG}: {name}: download from mirror {base}/{name} failed (Connection refused)")
    assert official.requests == []
    assert not any(dest(checkout, name).exists() for name in NAMES) and leftovers(checkout) == []


def test_a_web_mirror_that_does_not_answer_times_out(capsys, monkeypatch, checkout, web):
    monkeypatch.setattr(downloader, "TIMEOUT_S", 0.5)
    web.answers["/sub/example.avi"] = ["hang"]
    status, _, err = run(capsys, monkeypatch, {"SYNCNET_ONLY": "example.avi", **true_overrides()})
    assert status == 1
    assert err.startswith(f"{PROG}: example.avi: download from mirror {web.base}/example.avi failed (")
    assert "timed out); the file was not kept" in err  # TLS says "The read operation timed out"


def test_a_web_mirror_password_is_sent_but_never_shown(capsys, monkeypatch, checkout, web):
    web.files["/sub/example.avi"] = b"tampered"
    base = web.base.replace("https://", "https://someone:s3cr%40t@")
    status, out, err = run(capsys, monkeypatch, {"SYNCNET_MIRROR": base, "SYNCNET_ONLY": "example.avi",
                                                 **true_overrides()})
    assert status == 1 and "checksum mismatch" in err
    assert web.base.replace("https://", "https://***@") + "/example.avi" in err
    assert "s3cr" not in err + out
    assert web.requests == [("/sub/example.avi", "Basic " + base64.b64encode(b"someone:s3cr@t").decode())]


# ---------------------------------------------------------------- download_model.sh


def test_download_model_sh_runs_syncnet_download_under_its_own_name(tmp_path):
    """The reference's script, as a user runs it from another folder: files from a mirror folder
    to SYNCNET_DEST, one line each; a malformed setting named by the script's name."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    fill(mirror)
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNCNET_")}, "PYTHON": sys.executable,
           "SYNCNET_MIRROR": str(mirror), "SYNCNET_DEST": str(tmp_path / "cache"), **true_overrides(),
           "http_proxy": dead_proxy, "https_proxy": dead_proxy}
    result = subprocess.run(["bash", str(REPO_ROOT / "download_model.sh")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [f"{name}: copied from mirror and verified" for name in NAMES]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(NAMES)
    result = subprocess.run(["bash", str(REPO_ROOT / "download_model.sh")], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env={**env, "SYNCNET_ONLY": "nonsense.bin"})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("download_model.sh: SYNCNET_ONLY: unknown file 'nonsense.bin'")
