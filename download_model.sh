#!/usr/bin/env bash
#
# download_model.sh - fetch the pretrained SyncNet model, the S3FD face detector weights
# and the example clip into the places the demo scripts expect:
#
#   data/syncnet_v2.model                 checked by its SHA-256
#   data/example.avi                      checked by its SHA-256
#   detectors/s3fd/weights/sfd_face.pth   checked by its git blob id (git hash-object)
#
# Usage: bash download_model.sh        (from any directory; paths are relative to the
#                                       folder that holds this script)
#
# A file that is already present and verifies is left alone. A file that is present but
# fails verification is fetched again. Every fetch goes to a temporary file next to its
# destination (NAME.part.XXXXXX) and is renamed into place only after it verifies, so an
# unverified or partial file is never left under the final name, even on Ctrl-C.
#
# Downloads use curl if it is installed, else wget, else python3 (urllib). A server that does
# not answer within 10 s fails its file; when that server is the official site, the files after
# it are not tried there (each still gets its one line, pointing to the offline options).
#
# Environment:
#   SYNCNET_MIRROR   a local folder, or the base URL of a web mirror (http:// or https://).
#                    Folder: a file found there under its base name (syncnet_v2.model,
#                    example.avi, sfd_face.pth) is copied from it instead of downloaded,
#                    and verified the same way. A relative path is taken from the current
#                    directory. A folder that does not exist is warned about and ignored.
#                    URL: each file is downloaded from BASE/<base name> (a trailing slash on
#                    BASE is optional) with the same downloader and verified the same way.
#                    Plain http:// is accepted: the checksums, not the transport, are what
#                    guarantee the files. Other schemes (ftp:, file:, ...) are refused.
#                    Either way, a file the mirror lacks (not in the folder; HTTP 404 or
#                    410 from the URL) is downloaded from the official site as usual. Any
#                    other failure of the mirror (a file it serves that fails its checksum,
#                    an unreachable server, a TLS or other HTTP error) fails that file; the
#                    official site is not tried then.
#   SYNCNET_CA_BUNDLE  a PEM file of CA certificates to verify an https:// mirror with (a
#                    self-signed or company certificate). Used for the mirror only; the
#                    official site is verified with the system's certificates as usual.
#   SYNCNET_ONLY     space-separated base names, e.g. "example.avi syncnet_v2.model":
#                    handle only these files (useful offline).
#   SYNCNET_DEST     a folder: put every file there under its base name instead, e.g. the
#                    model cache of an installed package, ~/.cache/syncnet (created if need be).
#
#   Checksum overrides. These exist for the test suite (which uses small stand-in files)
#   and for mirrors that carry a re-released file; normal use needs none of them:
#   SYNCNET_SHA256_SYNCNET   expected SHA-256 of syncnet_v2.model (64 hex digits)
#   SYNCNET_SHA256_EXAMPLE   expected SHA-256 of example.avi (64 hex digits)
#   SYNCNET_GITBLOB_SFD      expected git blob id of sfd_face.pth (40 hex digits), i.e.
#                            sha1("blob <size>\0" + content), what `git hash-object` prints
#
# Output: one line per file on stdout ("NAME: ok (already present)", "NAME: downloaded and
# verified", "NAME: copied from mirror and verified", "NAME: downloaded from mirror and
# verified", "NAME: not on the mirror (HTTP 404 for URL); downloaded from the official site
# and verified"). A failure is reported as one line on stderr naming the file and what went
# wrong (a failed download also points to the offline options in README.md); the other
# files are still handled.
#
# Exit status: 0 when every file handled is in place and verified, 1 when any file failed,
# 2 for a usage error (an argument, a malformed SYNCNET_ONLY or checksum override, a
# SYNCNET_MIRROR that is neither a folder nor an http(s) URL, or an unreadable
# SYNCNET_CA_BUNDLE), reported as one line on stderr before any file is handled.

set -euo pipefail

readonly PROG="download_model.sh"

readonly DEFAULT_SHA256_SYNCNET="961e8696f888fce4f3f3a6c3d5b3267cf5b343100b238e79b2659bff2c605442"
readonly DEFAULT_SHA256_EXAMPLE="1724121b3a50141cfc9e77c034f7de914024d015b92762ae12d3e1a7151b8621"
readonly DEFAULT_GITBLOB_SFD="2bdf053a994371d57f6f535cb2682dc3e2990e89"

readonly URL_SYNCNET="http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model"
readonly URL_EXAMPLE="http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/example.avi"
readonly URL_SFD="https://www.robots.ox.ac.uk/~vgg/software/lipsync/data/sfd_face.pth"

# Where to point the user when a download fails.
readonly OFFLINE_HINT="see 'Offline' in README.md to use a copy instead (SYNCNET_MIRROR=FOLDER or https://URL)"

# The temporary file being filled right now, removed by the trap if the script stops early.
CURRENT_TMP=""

# Seconds to wait for a server to answer (name lookup included) before giving up: offline,
# a DNS lookup can otherwise hang for tens of seconds before the hint.
readonly CONNECT_TIMEOUT=10
# Set when the official site could not be reached (not an HTTP error): the files after
# that one do not wait on it again.
OFFICIAL_UNREACHABLE=""

# The mirror, set by resolve_mirror: a folder, or a base URL without trailing slash (and
# that URL as shown in messages, without any user:password), and the CA file for it.
MIRROR_DIR=""
MIRROR_URL=""
MIRROR_SHOWN=""
MIRROR_CA=""

cleanup() {
    if [[ -n "$CURRENT_TMP" ]]; then
        rm -f -- "$CURRENT_TMP"
        CURRENT_TMP=""
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

warn() {
    printf '%s: %s\n' "$PROG" "$*" >&2
}

usage() {
    printf 'Usage: bash %s\n' "$PROG"
    printf 'Fetches data/syncnet_v2.model, data/example.avi and detectors/s3fd/weights/sfd_face.pth.\n'
    printf 'Environment: SYNCNET_MIRROR (a folder to copy from, or an http:// or https:// base URL\n'
    printf 'to download from), SYNCNET_CA_BUNDLE (CA file for an https:// mirror),\n'
    printf 'SYNCNET_ONLY (base names), SYNCNET_DEST (put the files in this folder, e.g. ~/.cache/syncnet),\n'
    printf 'SYNCNET_SHA256_SYNCNET, SYNCNET_SHA256_EXAMPLE, SYNCNET_GITBLOB_SFD (checksum overrides).\n'
    printf 'See the comment at the top of this script for details.\n'
}

lowercase() {
    printf '%s' "$1" | tr '[:upper:]' '[:lower:]'
}

# Expected digest: the override variable's value if set and well-formed, else the default.
# Arguments: the override's value, its name, the default, the digest length in hex digits.
expected_digest() {
    local value="$1" name="$2" default="$3" length="$4"
    if [[ -z "$value" ]]; then
        printf '%s\n' "$default"
        return 0
    fi
    value=$(lowercase "$value")
    if [[ ${#value} -ne $length || ! "$value" =~ ^[0-9a-f]+$ ]]; then
        warn "$name must be $length hexadecimal digits, got '$1'"
        return 1
    fi
    printf '%s\n' "$value"
}

# The first field of the line a *sum tool prints.
first_field() {
    local line
    IFS= read -r line || true
    printf '%s\n' "${line%%[[:space:]]*}"
}

sha256_of() {
    local file="$1"
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum <"$file" | first_field
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 <"$file" | first_field
    elif command -v python3 >/dev/null 2>&1; then
        python3 - "$file" <<'PY'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())
PY
    else
        warn "no SHA-256 tool found (need sha256sum, shasum or python3)"
        return 1
    fi
}

# Git blob id: sha1 of "blob <size>" + NUL + content. A bash string cannot hold the NUL,
# so the header is written straight into the pipe.
gitblob_of() {
    local file="$1" size
    if command -v sha1sum >/dev/null 2>&1 || command -v shasum >/dev/null 2>&1; then
        size=$(wc -c <"$file")
        size=$((size))
        if command -v sha1sum >/dev/null 2>&1; then
            { printf 'blob %d\0' "$size"; cat -- "$file"; } | sha1sum | first_field
        else
            { printf 'blob %d\0' "$size"; cat -- "$file"; } | shasum -a 1 | first_field
        fi
    elif command -v python3 >/dev/null 2>&1; then
        python3 - "$file" <<'PY'
import hashlib, os, sys
path = sys.argv[1]
h = hashlib.sha1(b"blob %d\0" % os.path.getsize(path))
with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())
PY
    else
        warn "no SHA-1 tool found (need sha1sum, shasum or python3)"
        return 1
    fi
}

# digest_of KIND FILE, KIND being sha256 or gitblob.
digest_of() {
    case "$1" in
        sha256) sha256_of "$2" ;;
        gitblob) gitblob_of "$2" ;;
        *) return 1 ;;
    esac
}

describe_kind() {
    case "$1" in
        sha256) printf 'SHA-256' ;;
        gitblob) printf 'git blob id' ;;
    esac
}

# download URL DEST [CAFILE]: fetch URL into DEST, verifying an https server against the
# CA certificates in CAFILE when one is given. On failure prints the downloader's last
# message line (if any) on stdout and returns non-zero.
download() {
    local url="$1" dest="$2" cafile="${3:-}" out status=0 last
    local -a ca=()
    if command -v curl >/dev/null 2>&1; then
        if [[ -n "$cafile" ]]; then
            ca=(--cacert "$cafile")
        fi
        out=$(curl -fsSL --retry 3 --connect-timeout "$CONNECT_TIMEOUT" ${ca[@]+"${ca[@]}"} -o "$dest" "$url" 2>&1) ||
            status=$?
        last="curl exit $status"
    elif command -v wget >/dev/null 2>&1; then
        if [[ -n "$cafile" ]]; then
            ca=("--ca-certificate=$cafile")
        fi
        out=$(wget -nv --tries=3 --connect-timeout="$CONNECT_TIMEOUT" --dns-timeout="$CONNECT_TIMEOUT" \
            ${ca[@]+"${ca[@]}"} -O "$dest" "$url" 2>&1) || status=$?
        last="wget exit $status"
    elif command -v python3 >/dev/null 2>&1; then
        out=$(python3 - "$url" "$dest" "$cafile" 2>&1 <<'PY'
import shutil, ssl, sys, urllib.request
url, dest, cafile = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    with urllib.request.urlopen(url, timeout=60, context=context) as response, open(dest, "wb") as f:
        shutil.copyfileobj(response, f, 1 << 20)
except Exception as error:  # one line for the caller's message
    sys.exit("%s: %s" % (type(error).__name__, error))
PY
) || status=$?
        last="python3 exit $status"
    else
        printf 'no downloader found (need curl, wget or python3)\n'
        return 1
    fi
    if [[ $status -ne 0 ]]; then
        # Report curl's own error line ("curl: (60) SSL certificate problem: ..."), which
        # advice may follow, else the last non-empty line of what the downloader said.
        local line msg="" error=""
        while IFS= read -r line; do
            if [[ -n "$line" ]]; then
                msg="$line"
            fi
            if [[ -z "$error" && "$line" == "curl: ("* ]]; then
                error="$line"
            fi
        done <<<"$out"
        msg="${error:-$msg}"
        printf '%s%s\n' "$last" "${msg:+: $msg}"
        return "$status"
    fi
}

# Permissions for a finished file: what a plain new file would get under the umask
# (mktemp creates files readable by the owner only).
file_mode() {
    local mask
    mask=$(umask)
    printf '%04o\n' $((0666 & ~8#$mask))
}

# resolve_mirror VALUE: set MIRROR_DIR, or MIRROR_URL and MIRROR_SHOWN, from SYNCNET_MIRROR.
# An existing folder is always taken as a folder; a value that starts like a URL (SCHEME:)
# must be a well-formed http:// or https:// URL. Returns 1 after one stderr line otherwise.
resolve_mirror() {
    local value="$1" scheme rest authority path bad='[[:space:]?#]'
    if [[ -d "$value" ]]; then
        MIRROR_DIR="$value"
        return 0
    fi
    if [[ ! "$value" =~ ^([A-Za-z][A-Za-z0-9+.-]*): ]]; then
        warn "SYNCNET_MIRROR: $value is not a folder; downloading instead"
        return 0
    fi
    scheme=$(lowercase "${BASH_REMATCH[1]}")
    case "$scheme" in
        http | https)
            rest="${value#*://}"
            authority="${rest%%/*}"
            if [[ "$value" != *://* || -z "$authority" || "$value" =~ $bad ]]; then
                warn "SYNCNET_MIRROR: '$value' is not a usable base URL (expected $scheme://HOST[:PORT]/PATH, without spaces, '?' or '#')"
                return 1
            fi
            # Drop trailing slashes: files are fetched from BASE/NAME.
            while [[ "$value" == */ ]]; do
                value="${value%/}"
            done
            rest="${value#*://}"
            MIRROR_URL="$value"
            MIRROR_SHOWN="$value"
            if [[ "$authority" == *@* ]]; then
                MIRROR_SHOWN="${value%%://*}://***@${rest#*@}"
            fi
            ;;
        file)
            path="${value#*:}"
            if [[ "$path" == //* ]]; then
                path="${path#//}"
                path="/${path#*/}"
            fi
            warn "SYNCNET_MIRROR: file: URLs are not supported; give the folder itself, e.g. SYNCNET_MIRROR=${path:-/path/to/folder}"
            return 1
            ;;
        *)
            warn "SYNCNET_MIRROR: '$value' is neither a folder nor an http:// or https:// URL ('$scheme:' is not supported)"
            return 1
            ;;
    esac
}

# fetch_one NAME RELATIVE_PATH URL KIND EXPECTED
# Returns 0 when the file is in place and verified, 1 otherwise (after one stderr line).
fetch_one() {
    local name="$1" rel="$2" url="$3" kind="$4" expected="$5"
    local dest="$ROOT/$rel" dir actual tmp source_desc how had_invalid=0 reason hint=0
    if [[ -n "${SYNCNET_DEST:-}" ]]; then
        rel="$SYNCNET_DEST/$name"
        dest="$rel"
    fi

    dir="${dest%/*}"

    if [[ -e "$dest" || -L "$dest" ]] && [[ ! -f "$dest" ]]; then
        warn "$name: $rel exists but is not a regular file; left it alone"
        return 1
    fi
    if [[ -e "$dest" ]]; then
        if actual=$(digest_of "$kind" "$dest") && [[ "$actual" == "$expected" ]]; then
            printf '%s: ok (already present)\n' "$name"
            return 0
        fi
        had_invalid=1
        printf '%s: present but fails verification (%s %s, expected %s); fetching again\n' \
            "$name" "$(describe_kind "$kind")" "${actual:-unreadable}" "$expected"
    fi

    if ! mkdir -p -- "$dir"; then
        warn "$name: cannot create folder $dir"
        return 1
    fi
    if ! tmp=$(mktemp "$dest.part.XXXXXX"); then
        warn "$name: cannot create a temporary file in $dir"
        return 1
    fi
    CURRENT_TMP="$tmp"

    reason=""
    local said official=1 not_found="" lowered not_found_re='error:? (404|410)([^0-9]|$)'
    if [[ -n "$MIRROR_DIR" && -f "$MIRROR_DIR/$name" ]]; then
        official=0
        source_desc="mirror file $MIRROR_DIR/$name"
        how="copied from mirror and verified"
        if ! cp -- "$MIRROR_DIR/$name" "$tmp"; then
            reason="copy from $source_desc failed"
        fi
    elif [[ -n "$MIRROR_URL" ]]; then
        official=0
        source_desc="mirror $MIRROR_SHOWN/$name"
        how="downloaded from mirror and verified"
        if ! said=$(download "$MIRROR_URL/$name" "$tmp" "$MIRROR_CA"); then
            lowered=$(lowercase "$said")
            if [[ "$lowered" =~ $not_found_re ]]; then
                # The mirror lacks this file: as with a folder, try the official site.
                not_found="not on the mirror (HTTP ${BASH_REMATCH[1]} for $MIRROR_SHOWN/$name)"
                official=1
                : >"$tmp"
            else
                reason="download from $source_desc failed${said:+ ($said)}"
                hint=1
            fi
        fi
    fi
    if [[ $official -eq 1 ]]; then
        source_desc="$url"
        how="downloaded and verified"
        if [[ -n "$not_found" ]]; then
            how="$not_found; downloaded from the official site and verified"
        fi
        if [[ -n "$OFFICIAL_UNREACHABLE" ]]; then
            reason="${not_found:+$not_found, and }not downloaded: the official site could not be reached for $OFFICIAL_UNREACHABLE"
            hint=1
        elif ! said=$(download "$url" "$tmp"); then
            reason="${not_found:+$not_found, and }download from $url failed${said:+ ($said)}"
            hint=1
            # An HTTP status (curl 22, wget 8, urllib's HTTPError) means the site answered.
            if [[ ! "$said" =~ ^(curl\ exit\ 22|wget\ exit\ 8|python3\ exit\ [0-9]+:\ HTTPError) ]]; then
                OFFICIAL_UNREACHABLE="$name"
            fi
        fi
    fi

    if [[ -z "$reason" ]]; then
        if ! actual=$(digest_of "$kind" "$tmp"); then
            reason="could not compute the $(describe_kind "$kind") of the file from $source_desc"
        elif [[ "$actual" != "$expected" ]]; then
            reason="checksum mismatch ($(describe_kind "$kind") expected $expected, got $actual, from $source_desc)"
        fi
    fi

    if [[ -z "$reason" ]]; then
        if ! chmod "$(file_mode)" "$tmp"; then
            reason="cannot set permissions on $tmp"
        elif ! mv -f -- "$tmp" "$dest"; then
            reason="cannot move the verified file to $dest"
        fi
    fi

    if [[ -n "$reason" ]]; then
        rm -f -- "$tmp"
        CURRENT_TMP=""
        local suffix=""
        if [[ $hint -eq 1 ]]; then
            suffix="; $OFFLINE_HINT"
        fi
        if [[ $had_invalid -eq 1 ]]; then
            rm -f -- "$dest"
            warn "$name: $reason; the file was not kept, and the invalid existing $rel was removed$suffix"
        else
            warn "$name: $reason; the file was not kept$suffix"
        fi
        return 1
    fi

    CURRENT_TMP=""
    printf '%s: %s\n' "$name" "$how"
    return 0
}

main() {
    if [[ $# -gt 0 ]]; then
        case "$1" in
            -h | --help)
                usage
                return 0
                ;;
            *)
                warn "unexpected argument '$1' (this script takes none; see --help)"
                return 2
                ;;
        esac
    fi

    local src="${BASH_SOURCE[0]}" src_dir
    case "$src" in
        */*) src_dir="${src%/*}" ;;
        *) src_dir="." ;;
    esac
    ROOT=$(cd -P -- "${src_dir:-/}" && pwd -P)

    local sha_syncnet sha_example blob_sfd
    sha_syncnet=$(expected_digest "${SYNCNET_SHA256_SYNCNET:-}" SYNCNET_SHA256_SYNCNET \
        "$DEFAULT_SHA256_SYNCNET" 64) || return 2
    sha_example=$(expected_digest "${SYNCNET_SHA256_EXAMPLE:-}" SYNCNET_SHA256_EXAMPLE \
        "$DEFAULT_SHA256_EXAMPLE" 64) || return 2
    blob_sfd=$(expected_digest "${SYNCNET_GITBLOB_SFD:-}" SYNCNET_GITBLOB_SFD \
        "$DEFAULT_GITBLOB_SFD" 40) || return 2

    local known=" syncnet_v2.model example.avi sfd_face.pth " only=" " word
    if [[ -n "${SYNCNET_ONLY:-}" ]]; then
        for word in $SYNCNET_ONLY; do
            if [[ "$known" != *" $word "* ]]; then
                warn "SYNCNET_ONLY: unknown file '$word' (known: syncnet_v2.model example.avi sfd_face.pth)"
                return 2
            fi
            only="$only$word "
        done
    else
        only="$known"
    fi

    if [[ -n "${SYNCNET_MIRROR:-}" ]]; then
        resolve_mirror "$SYNCNET_MIRROR" || return 2
    fi
    if [[ -n "${SYNCNET_CA_BUNDLE:-}" ]]; then
        if [[ ! -f "$SYNCNET_CA_BUNDLE" || ! -r "$SYNCNET_CA_BUNDLE" ]]; then
            warn "SYNCNET_CA_BUNDLE: $SYNCNET_CA_BUNDLE is not a readable file"
            return 2
        fi
        MIRROR_CA="$SYNCNET_CA_BUNDLE"
    fi

    local failed=0
    if [[ "$only" == *" syncnet_v2.model "* ]]; then
        fetch_one syncnet_v2.model data/syncnet_v2.model "$URL_SYNCNET" sha256 "$sha_syncnet" ||
            failed=1
    fi
    if [[ "$only" == *" example.avi "* ]]; then
        fetch_one example.avi data/example.avi "$URL_EXAMPLE" sha256 "$sha_example" ||
            failed=1
    fi
    if [[ "$only" == *" sfd_face.pth "* ]]; then
        fetch_one sfd_face.pth detectors/s3fd/weights/sfd_face.pth "$URL_SFD" gitblob "$blob_sfd" ||
            failed=1
    fi
    return "$failed"
}

main "$@"
