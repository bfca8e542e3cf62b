"""Fetching the model files of MODEL_FILES: copied from a mirror folder, or downloaded from a
mirror URL or the official site, and each verified by its checksum before it takes its place.

A file is written to a temporary file beside its destination and renamed onto it only once it
verifies, so a partial, interrupted or wrong file never stands under the file's name. Nothing
here prints: fetch_files yields one Report per line to show, and syncnet-download prints them.
The settings are the environment variables download_model.sh has always read (docs/models.md).
"""
import base64
import contextlib
import dataclasses
import http.client
import logging
import os
import re
import shutil
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

from syncnet.errors import InputError, one_line
from syncnet.io.fileio import atomic_path
from syncnet.models.files import MODEL_FILES
from syncnet.models.paths import download_place
from syncnet.runtime.progress import progress_bar

log = logging.getLogger(__name__)

# Seconds a server may take to answer, connecting or between two reads, before its file fails:
# offline, a lookup or a connection could otherwise hang for minutes before the offline hint.
TIMEOUT_S = 10
# Answers worth asking again (as curl --retry does), after these waits; then the file fails.
TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
RETRY_WAITS_S = (1, 2, 4)
# A mirror's answer that it lacks a file: the official site is asked instead.
NOT_FOUND_STATUS = {404, 410}
# Where a failed download points the user.
OFFLINE_HINT = ("see 'Offline' in README.md: use a copy of the files (SYNCNET_MIRROR=FOLDER or https://URL), or "
                "try the commands with stand-in weights")


class SettingsError(InputError):
    """A malformed setting (a checksum override, SYNCNET_ONLY, SYNCNET_MIRROR, SYNCNET_CA_BUNDLE),
    found before any file is handled."""


class DownloadError(Exception):
    """A download that failed; `status` is the HTTP status when the server answered with one."""

    def __init__(self, reason, status=None):
        super().__init__(reason)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Mirror:
    """SYNCNET_MIRROR: a folder, or a base URL (`url`, without user:password, which go in
    `authorization`; `shown` is the URL as messages show it, the password hidden)."""
    folder: str = None
    url: str = None
    shown: str = None
    authorization: str = None


@dataclasses.dataclass(frozen=True)
class Settings:
    files: tuple  # the files.ModelFile entries to handle, each with the digest it must have
    mirror: Mirror = Mirror()
    ca_bundle: str = None  # CA certificates for an https:// mirror (not for the official site)
    dest_dir: str = None  # every file goes here under its name, instead of its default place


@dataclasses.dataclass(frozen=True)
class Report:
    """One line about one file; `failed` when the file is not in place and verified."""
    name: str
    text: str
    failed: bool = False

    def __str__(self):
        return f"{self.name}: {self.text}"


class _Failed(Exception):
    """Why a file was not kept; `hint` when the offline options may help."""

    def __init__(self, reason, hint=False):
        super().__init__(reason)
        self.hint = hint


def settings_from_environment(environ):
    """The Settings that the environment gives; SettingsError names the first malformed one."""
    files = [_with_override(spec, environ.get(spec.override, "")) for spec in MODEL_FILES.values()]
    only = environ.get("SYNCNET_ONLY", "")
    if only:
        names = only.split()
        unknown = [name for name in names if name not in MODEL_FILES]
        if unknown:
            raise SettingsError(f"SYNCNET_ONLY: unknown file '{unknown[0]}' (known: {' '.join(MODEL_FILES)})")
        files = [spec for spec in files if spec.name in names]
    mirror = _mirror(environ.get("SYNCNET_MIRROR", ""))
    ca_bundle = environ.get("SYNCNET_CA_BUNDLE", "") or None
    if ca_bundle and not (os.path.isfile(ca_bundle) and os.access(ca_bundle, os.R_OK)):
        raise SettingsError(f"SYNCNET_CA_BUNDLE: {ca_bundle} is not a readable file")
    return Settings(tuple(files), mirror, ca_bundle, environ.get("SYNCNET_DEST", "") or None)


def _with_override(spec, value):
    if not value:
        return spec
    digest = value.lower()
    if len(digest) != spec.digest_length or not re.fullmatch("[0-9a-f]+", digest):
        raise SettingsError(f"{spec.override} must be {spec.digest_length} hexadecimal digits, got '{value}'")
    return dataclasses.replace(spec, digest=digest)


def _mirror(value):
    """SYNCNET_MIRROR's Mirror. An existing folder is a folder, whatever its name looks like; a
    value that starts like a URL (SCHEME:) must be a well-formed http:// or https:// one."""
    if not value:
        return Mirror()
    if os.path.isdir(value):
        return Mirror(folder=value)
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", value)
    if not scheme:
        log.warning("SYNCNET_MIRROR: %s is not a folder; downloading instead", value)
        return Mirror()
    scheme = scheme[1].lower()
    if scheme == "file":
        path = value.split(":", 1)[1]
        if path.startswith("//"):  # file://HOST/PATH: the path is what follows the host
            after = path[2:]
            path = "/" + (after.split("/", 1)[1] if "/" in after else after)
        raise SettingsError("SYNCNET_MIRROR: file: URLs are not supported; give the folder itself, "
                            f"e.g. SYNCNET_MIRROR={path or '/path/to/folder'}")
    if scheme not in ("http", "https"):
        raise SettingsError(f"SYNCNET_MIRROR: '{value}' is neither a folder nor an http:// or https:// URL "
                            f"('{scheme}:' is not supported)")
    head, _, rest = value.partition("://")
    authority = rest.split("/", 1)[0]
    if not authority or re.search(r"[\s?#]", value):
        raise SettingsError(f"SYNCNET_MIRROR: '{value}' is not a usable base URL (expected "
                            f"{scheme}://HOST[:PORT]/PATH, without spaces, '?' or '#')")
    rest = rest.rstrip("/")  # files are fetched from BASE/NAME
    if "@" not in authority:
        return Mirror(url=f"{head}://{rest}", shown=f"{head}://{rest}")
    userinfo = authority.rpartition("@")[0]
    rest = rest[len(userinfo) + 1:]
    user, _, password = userinfo.partition(":")
    credentials = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()
    return Mirror(url=f"{head}://{rest}", shown=f"{head}://***@{rest}",
                  authorization="Basic " + base64.b64encode(credentials).decode())


def fetch_files(settings, quiet=False):
    """Put each file of `settings` in place, verified; yields the Reports to show, in order (a
    file that fails does not stop the others). `quiet`: no progress bars."""
    unreachable = []  # the file for which the official site did not answer: the later ones do not wait on it
    for spec in settings.files:
        yield from _fetch_one(spec, settings, unreachable, quiet)


def _fetch_one(spec, settings, unreachable, quiet):
    dest = os.path.join(settings.dest_dir, spec.name) if settings.dest_dir else os.fspath(download_place(spec))
    if os.path.lexists(dest) and not os.path.isfile(dest):
        yield Report(spec.name, f"{dest} exists but is not a regular file; left it alone", failed=True)
        return
    had_invalid = os.path.isfile(dest)
    if had_invalid:
        try:
            actual = spec.digest_of(dest)
        except OSError:
            actual = None
        if actual == spec.digest:
            yield Report(spec.name, "ok (already present)")
            return
        yield Report(spec.name, f"present but fails verification ({spec.kind} {actual or 'unreadable'}, expected "
                                f"{spec.digest}); fetching again")
    try:
        how = _fetch_verified(spec, dest, settings, unreachable, quiet)
    except _Failed as failure:
        text = f"{failure}; the file was not kept"
        if had_invalid:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(dest)
            text += f", and the invalid existing {dest} was removed"
        if failure.hint:
            text += f"; {OFFLINE_HINT}"
        yield Report(spec.name, text, failed=True)
        return
    yield Report(spec.name, how)


def _fetch_verified(spec, dest, settings, unreachable, quiet):
    """Fetch `spec` to a temporary file beside `dest`, verify it, and rename it onto `dest`;
    returns how it came. _Failed says why not, and leaves no file behind."""
    folder = os.path.dirname(dest) or "."
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise _Failed(f"cannot create folder {folder} ({error.strerror})") from None
    try:
        with atomic_path(dest) as temporary:
            how, source = _fetch_into(temporary, spec, settings, unreachable, quiet)
            actual = spec.digest_of(temporary)
            if actual != spec.digest:
                raise _Failed(f"checksum mismatch ({spec.kind} expected {spec.digest}, got {actual}, from {source})")
    except OSError as error:  # the temporary file, its permissions, or the rename
        raise _Failed(f"cannot write {dest} ({error.strerror or one_line(error)})") from None
    return how


def _fetch_into(path, spec, settings, unreachable, quiet):
    """Fill `path` with spec's file: from the mirror when it has it, else the official site.
    Returns (how it came, where from)."""
    mirror, not_found = settings.mirror, None
    if mirror.folder and os.path.isfile(os.path.join(mirror.folder, spec.name)):
        source = os.path.join(mirror.folder, spec.name)
        try:
            shutil.copyfile(source, path)
        except OSError as error:
            raise _Failed(f"copy from mirror file {source} failed ({error.strerror})") from None
        return "copied from mirror and verified", f"mirror file {source}"
    if mirror.url:
        shown = f"{mirror.shown}/{spec.name}"
        try:
            download(f"{mirror.url}/{spec.name}", path, spec.name, quiet, settings.ca_bundle, mirror.authorization)
            return "downloaded from mirror and verified", f"mirror {shown}"
        except DownloadError as error:
            if error.status not in NOT_FOUND_STATUS:
                raise _Failed(f"download from mirror {shown} failed ({error})", hint=True) from None
            not_found = f"not on the mirror (HTTP {error.status} for {shown})"
    before = f"{not_found}, and " if not_found else ""
    if unreachable:
        raise _Failed(f"{before}not downloaded: the official site could not be reached for {unreachable[0]}",
                      hint=True)
    try:
        download(spec.url, path, spec.name, quiet)
    except DownloadError as error:
        if error.status is None:  # no answer at all, unlike an HTTP error: later files do not wait on it
            unreachable.append(spec.name)
        raise _Failed(f"{before}download from {spec.url} failed ({error})", hint=True) from None
    how = f"{not_found}; downloaded from the official site and verified" if not_found else "downloaded and verified"
    return how, spec.url


def download(url, path, desc, quiet=False, ca_bundle=None, authorization=None):
    """Write what `url` serves to `path` (redirects followed), with a progress bar named `desc`.
    A transient HTTP status, or a transfer that breaks off, is tried again after each wait of
    RETRY_WAITS_S; a server that does not answer is not. DownloadError says why it failed."""
    try:
        context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None
    except (ssl.SSLError, OSError) as error:
        raise DownloadError(f"cannot use the CA certificates in {ca_bundle}: {_reason(error)}") from None
    request = urllib.request.Request(url)
    if authorization:  # not sent on to where a redirect points
        request.add_unredirected_header("Authorization", authorization)
    for wait in (*RETRY_WAITS_S, None):
        try:
            response = urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context)
        except urllib.error.HTTPError as error:
            error.close()
            if error.code not in TRANSIENT_STATUS or wait is None:
                raise DownloadError(f"HTTP {error.code} {error.reason}", error.code) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:  # no answer
            raise DownloadError(_reason(error)) from None
        else:
            try:
                _save(response, path, desc, quiet)
                return
            except (http.client.HTTPException, OSError) as error:
                if wait is None:
                    raise DownloadError(f"the transfer broke off: {_reason(error)}") from None
        time.sleep(wait)


def _save(response, path, desc, quiet):
    expected, received = response.length, 0
    with response, open(path, "wb") as out, progress_bar(expected, desc, "B", quiet, unit_scale=True) as bar:
        for block in iter(lambda: response.read(1 << 16), b""):
            out.write(block)
            received += len(block)
            bar.update(len(block))
    if expected is not None and received < expected:  # http.client's read(n) ends quietly at an early close
        raise http.client.HTTPException(f"{received} of {expected} bytes")


def _reason(error):
    """Why a request failed, in one line: the system's words for a connection or TLS failure."""
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, Exception):
        error = error.reason
    return error.strerror if isinstance(error, OSError) and error.strerror else one_line(error)
