"""A full disk told apart from a bad clip or a bug: training stops and says so, keeping what it
had written, instead of skipping clips that are not to blame."""
import contextlib
import errno
import shutil

from syncnet.errors import SyncNetError

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# Below this much room a failed write is taken for a full disk: writers that report no errno
# (torch.save's "file write failed") fail with the partial file still there, filling the disk.
LOW_ROOM_BYTES = 1 << 20
# How the layers below word a full disk: syncnet.io.media for ffmpeg's exit 228, numpy for a short write.
FULL_DISK_TEXTS = ("No space left on device", "the disk is full")


class DiskFullError(SyncNetError):
    """The disk (or the quota) filled up while the run wrote: no input is to blame."""


def _short_write(text):
    """numpy's words for a write the device cut short: 'N requested and M written'."""
    words = text.split()
    return len(words) == 5 and words[1:3] == ["requested", "and"] and words[4] == "written"


def _room(folder):
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return LOW_ROOM_BYTES  # a folder that is gone says nothing


def is_full(error, *folders):
    """Whether `error` comes from a full disk: its errno, its words, or no room left in `folders`."""
    if getattr(error, "errno", None) in FULL_ERRNOS:
        return True
    text = str(error)
    if any(words in text for words in FULL_DISK_TEXTS) or _short_write(text):
        return True
    return any(_room(folder) < LOW_ROOM_BYTES for folder in folders)


@contextlib.contextmanager
def named_if_full(doing, advice, *folders):
    """Within the block, a failed write on a full disk becomes one DiskFullError that says what
    was being done (`doing`) and what to do (`advice`); other failures pass unchanged."""
    try:
        yield
    except DiskFullError:
        raise
    except (OSError, RuntimeError, SyncNetError) as error:
        if not is_full(error, *folders):
            raise
        raise DiskFullError(f"the disk is full (no space left on the device) while {doing}: {advice}") from None
