"""The monitor's records: one JSON object per line, each with its `type`, the schema's version and
the `source` it is about (docs/monitor.md documents every field), and sources without credentials.
"""
import json
import re
import urllib.parse

from syncnet.timeline.segments import json_number

SCHEMA = "syncnet-monitor/1"
# Query parameters that carry a secret in the protocols ffmpeg opens (SRT's passphrase, RTMP and
# HLS tokens, signed URLs).
SECRET_PARAMETERS = re.compile(r"(pass|passphrase|password|pwd|secret|token|key|auth|sig|signature|streamid)$",
                               re.IGNORECASE)
HIDDEN = "***"


def redact_source(source):
    """`source` with its credentials hidden: the user and password of a URL, and the values of
    query parameters that hold secrets (`srt://host:9000?passphrase=...`). A path stays as it is."""
    text = str(source)
    if "://" not in text:
        return text
    try:
        parts = urllib.parse.urlsplit(text)
        netloc = parts.netloc
    except ValueError:
        return re.sub(r"//[^/@]*@", f"//{HIDDEN}@", text)
    if "@" in netloc:
        netloc = f"{HIDDEN}@{netloc.rpartition('@')[2]}"
    query = "&".join(f"{name}={HIDDEN}" if SECRET_PARAMETERS.search(name) else
                     (f"{name}={value}" if sep else name)
                     for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item))
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrubbed(text, source):
    """`text` with every credential of `source` (its password, user, secret parameters) hidden:
    for the lines a failing ffmpeg writes, which quote the URL it was given."""
    secrets = set()
    try:
        parts = urllib.parse.urlsplit(str(source))
        secrets |= {parts.password, parts.username, urllib.parse.unquote(parts.password or "")}
        secrets |= {value for name, _, value in (item.partition("=") for item in parts.query.split("&"))
                    if SECRET_PARAMETERS.search(name)}
    except ValueError:
        pass
    text = str(text).replace(str(source), redact_source(source))
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


def record(kind, source, **fields):
    """A record of `kind` ("hop", "alarm", "step", "gap", "drops", "summary") about `source`."""
    return {"type": kind, "schema": SCHEMA, "source": source, **fields}


def hop_record(source, hop):
    """The record of one hop (a syncnet.monitor.monitor.Hop)."""
    return record("hop", source, time_s=round(hop.time_s, 3), window_s=hop.window_s,
                  offset_frames=hop.offset_frames, offset_ms=hop.offset_ms,
                  confidence=json_number(hop.confidence), min_dist=json_number(hop.min_dist),
                  face={"track": hop.track, "box": hop.box}, state=hop.state)


def as_line(value):
    """One JSON line (no NaN: the records hold None instead)."""
    return json.dumps(value, allow_nan=False, separators=(", ", ": "))
