"""Where batch inputs and outputs live: local or shared-filesystem paths, or object storage.

An object-storage location is an `s3://bucket/key` URI, reached through boto3; the endpoint
comes from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (a MinIO, Ceph or test server), credentials
and region from the usual AWS settings. A key is used exactly as written: S3 allows `.`, `..`
and empty segments in keys, which a path library would resolve away. An object's version is
its ETag, which with its size tells a rerun whether it changed.
"""
import functools
import os
import secrets
import tempfile

from syncnet.errors import InputError, one_line
from syncnet.runtime import extras

SCHEMES = ("s3://",)
FEATURE = "object storage (s3://)"


class NotAnObject(InputError):
    """A URI that names a bucket or a prefix where an object is needed."""


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
def _client():
    boto3 = extras.require("s3", FEATURE, "boto3")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return boto3.client("s3", endpoint_url=_endpoint(), region_name=region)


def _bucket_and_key(uri):
    """'s3://bucket/a/b' -> ('bucket', 'a/b'), checking it names a bucket."""
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    if not bucket:
        raise InputError(f"{uri}: an object-storage location needs a bucket (s3://BUCKET/...)")
    return bucket, key


def _object(uri):
    """(bucket, key) of a URI that must name one object, not a bucket or a prefix."""
    bucket, key = _bucket_and_key(uri)
    if not key or key.endswith("/"):
        raise NotAnObject(f"{uri}: names a bucket or a prefix, not an object: give s3://BUCKET/KEY")
    return bucket, key


def _prefix(uri):
    """(bucket, prefix) of a URI taken as a folder: its key with one '/' at the end ('' for a bucket)."""
    bucket, key = _bucket_and_key(uri)
    return bucket, key.rstrip("/") + "/" if key.strip("/") else ""


def _failure(uri, error):
    return InputError(f"{uri}: object storage failed ({one_line(error, 200)})")


def _missing(error):
    exceptions = extras.require("s3", FEATURE, "botocore.exceptions")
    return isinstance(error, exceptions.ClientError) and error.response.get("Error", {}).get("Code") in (
        "404", "NoSuchKey", "NotFound")


def _storage_errors():
    exceptions = extras.require("s3", FEATURE, "botocore.exceptions")
    return (exceptions.BotoCoreError, exceptions.ClientError, OSError)


def stat(uri):
    """(size, etag) of an object, or (None, None) when it does not exist."""
    bucket, key = _object(uri)
    try:
        head = _client().head_object(Bucket=bucket, Key=key)
    except _storage_errors() as error:
        if _missing(error):
            return None, None
        raise _failure(uri, error) from None
    return head["ContentLength"], head["ETag"].strip('"')


def list_files(uri, recursive=True):
    """URIs of the objects under the prefix `uri`, sorted."""
    bucket, prefix = _prefix(uri)
    options = {} if recursive else {"Delimiter": "/"}
    found = []
    try:
        for page in _client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **options):
            found.extend(f"s3://{bucket}/{item['Key']}" for item in page.get("Contents", [])
                         if not item["Key"].endswith("/"))
    except _storage_errors() as error:
        raise _failure(uri, error) from None
    return sorted(found)


def download(uri, target):
    """Copy an object to the local file `target` (written whole, then renamed)."""
    bucket, key = _object(uri)
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(target)), suffix=".part")
    os.close(handle)
    try:
        _client().download_file(bucket, key, temporary)
        os.replace(temporary, target)
    except _storage_errors() as error:
        raise _failure(uri, error) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def upload_file(source, uri):
    bucket, key = _object(uri)
    try:
        _client().upload_file(os.fspath(source), bucket, key)
    except _storage_errors() as error:
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
        bucket, key = _object(location)
        try:
            _client().put_object(Bucket=bucket, Key=key, Body=data)
        except _storage_errors() as error:
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
    bucket, key = _object(location)
    try:
        return _client().get_object(Bucket=bucket, Key=key)["Body"].read()
    except _storage_errors() as error:
        if _missing(error):
            return None
        raise _failure(location, error) from None


def remove(location):
    """Delete a file or object if it exists."""
    if not is_uri(location):
        if os.path.isfile(location):
            os.unlink(location)
        return
    bucket, key = _object(location)
    try:
        _client().delete_object(Bucket=bucket, Key=key)
    except _storage_errors() as error:
        if not _missing(error):
            raise _failure(location, error) from None


def remove_tree(uri):
    """Delete every object under the prefix `uri`."""
    for found in list_files(uri):
        remove(found)


def make_dirs(location):
    if not is_uri(location):
        os.makedirs(location, exist_ok=True)


def check_writable(location, option):
    """Refuse, before any work, an output folder (or object prefix) that cannot be written: a
    probe is created there and removed. `option` names what the user can change."""
    probe = join(location, f".syncnet-probe-{secrets.token_hex(6)}")
    try:
        make_dirs(location)
        write_bytes(probe, b"")
        remove(probe)
    except (InputError, OSError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else \
            one_line(error, 300).removeprefix(f"{probe}: ")
        raise InputError(f"{option} {location}: cannot write there ({reason}): choose a location you can "
                         "write to") from None
