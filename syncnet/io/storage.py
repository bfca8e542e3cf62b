"""Where batch inputs and outputs live: local or shared-filesystem paths, or object storage.

An object-storage location is an `s3://bucket/key` URI, reached through pyarrow's S3 file
system; the endpoint comes from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (a MinIO, Ceph or
test server), credentials and region from the usual AWS settings. An object's version is its
ETag (read with boto3), which with its size tells a rerun whether it changed.
"""
import functools
import os
import shutil
import tempfile
from urllib.parse import urlparse

from syncnet.errors import InputError, one_line
from syncnet.runtime import extras

SCHEMES = ("s3://",)
FEATURE = "object storage (s3://)"


def _fs():
    """pyarrow.fs, imported only for an s3:// location: local paths need no extra."""
    return extras.require("s3", FEATURE, "pyarrow.fs")


def is_uri(location):
    return isinstance(location, str) and location.lower().startswith(SCHEMES)


def join(base, *parts):
    """A path or URI below `base`."""
    if is_uri(base):
        return "/".join([base.rstrip("/"), *(part.strip("/") for part in parts)])
    return os.path.join(base, *parts)


def _endpoint():
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


@functools.lru_cache(maxsize=None)
def _s3():
    """pyarrow's S3 file system, aimed at the configured endpoint (pyarrow itself ignores it)."""
    fs = _fs()
    endpoint = _endpoint()
    options = {}
    if endpoint:
        parsed = urlparse(endpoint)
        options.update(endpoint_override=parsed.netloc or parsed.path, scheme=parsed.scheme or "https")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    return fs.S3FileSystem(**options)


@functools.lru_cache(maxsize=None)
def _boto3_client():
    boto3 = extras.require("s3", FEATURE, "boto3")
    return boto3.client("s3", endpoint_url=_endpoint())


def _split(uri):
    """'s3://bucket/a/b' -> 'bucket/a/b' (pyarrow's path), checking it names a bucket."""
    path = uri.split("://", 1)[1].strip("/")
    if not path:
        raise InputError(f"{uri}: an object-storage location needs a bucket (s3://BUCKET/...)")
    return path


def _failure(uri, error):
    return InputError(f"{uri}: object storage failed ({one_line(error, 200)})")


def stat(uri):
    """(size, etag) of an object, or (None, None) when it does not exist."""
    path = _split(uri)
    bucket, _, key = path.partition("/")
    ClientError = extras.require("s3", FEATURE, "botocore.exceptions").ClientError
    try:
        head = _boto3_client().head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None, None
        raise _failure(uri, error) from None
    return head["ContentLength"], head["ETag"].strip('"')


def list_files(uri, recursive=True):
    """URIs of the objects under the prefix `uri`, sorted."""
    fs = _fs()
    try:
        infos = _s3().get_file_info(fs.FileSelector(_split(uri), recursive=recursive, allow_not_found=True))
    except OSError as error:
        raise _failure(uri, error) from None
    return sorted(f"s3://{info.path}" for info in infos if info.type == fs.FileType.File)


def download(uri, target):
    """Copy an object to the local file `target` (written whole, then renamed)."""
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(target)), suffix=".part")
    try:
        with os.fdopen(handle, "wb") as sink, _s3().open_input_stream(_split(uri)) as source:
            shutil.copyfileobj(source, sink, 8 << 20)
        os.replace(temporary, target)
    except OSError as error:
        raise _failure(uri, error) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def upload_file(source, uri):
    try:
        with open(source, "rb") as data, _s3().open_output_stream(_split(uri)) as sink:
            shutil.copyfileobj(data, sink, 8 << 20)
    except OSError as error:
        raise _failure(uri, error) from None


def upload_tree(folder, uri):
    """Every file under the local `folder` to objects under the prefix `uri` (no folder markers)."""
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            local = os.path.join(root, name)
            upload_file(local, join(uri, os.path.relpath(local, folder).replace(os.sep, "/")))


def write_bytes(location, data):
    """Write a whole file at a path (atomically) or an object at a URI."""
    if is_uri(location):
        try:
            with _s3().open_output_stream(_split(location)) as sink:
                sink.write(data)
        except OSError as error:
            raise _failure(location, error) from None
        return
    from syncnet.io.fileio import atomic_path

    with atomic_path(location) as temporary, open(temporary, "wb") as handle:
        handle.write(data)


def read_bytes(location):
    """A whole file or object; None when it does not exist."""
    if not is_uri(location):
        if not os.path.isfile(location):
            return None
        with open(location, "rb") as handle:
            return handle.read()
    fs = _fs()
    path = _split(location)
    try:
        if _s3().get_file_info(path).type == fs.FileType.NotFound:
            return None
        with _s3().open_input_stream(path) as source:
            return source.read()
    except OSError as error:
        raise _failure(location, error) from None


def remove(location):
    """Delete a file or object if it exists."""
    if not is_uri(location):
        if os.path.isfile(location):
            os.unlink(location)
        return
    fs = _fs()
    path = _split(location)
    try:
        if _s3().get_file_info(path).type != fs.FileType.NotFound:
            _s3().delete_file(path)
    except OSError as error:
        raise _failure(location, error) from None


def remove_tree(uri):
    """Delete every object under the prefix `uri`."""
    try:
        _s3().delete_dir_contents(_split(uri), missing_dir_ok=True)
    except OSError as error:
        raise _failure(uri, error) from None


def make_dirs(location):
    if not is_uri(location):
        os.makedirs(location, exist_ok=True)
