"""Progress bars for the long loops: shown on a terminal, silent in logs, pipes and with --quiet."""
import sys

from tqdm import tqdm


def progress_bar(total=None, desc=None, unit="it", quiet=False, unit_scale=False):
    """A tqdm bar on stderr, disabled when `quiet` or when stderr is not a terminal; with
    `unit_scale`, counts are shown as k, M, G of the unit (bytes as MB, say).

    It leaves no line behind when it closes, so the reference's result lines stay as they were.
    """
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit_scale, file=sys.stderr, leave=False,
                dynamic_ncols=True, disable=quiet or not sys.stderr.isatty())
