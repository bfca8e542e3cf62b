"""The tolerance presets: the lip-sync windows of the broadcast standards, by name.

Each is (late_ms, early_ms) in the suite's sign: positive = the audio is early (it leads the
picture), negative = the audio is late. docs/monitor.md cites each standard's clause.
"""
from syncnet.errors import InputError

PRESETS = {
    # ITU-R BT.1359-1 (1998), Figure 1: the threshold of detectability, sound 45 ms early to 125 ms late.
    "bt1359": (-125.0, 45.0),
    # ITU-R BT.1359-1, Figure 1: the threshold of acceptability, sound 90 ms early to 185 ms late.
    "bt1359-accept": (-185.0, 90.0),
    # EBU Technical Recommendation R37 (2007): at the output of the broadcast chain, +40 ms / -60 ms.
    "ebu-r37": (-60.0, 40.0),
    # ATSC IS-191 (2003): at the input to the DTV encoder, sound 15 ms early to 45 ms late.
    "atsc-is191": (-45.0, 15.0),
}
DEFAULT_PRESET = "bt1359"


def preset_window(name):
    """The (late_ms, early_ms) window of preset `name`, or a one-line error naming the presets."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise InputError(f"--preset {name!r}: expected one of {', '.join(PRESETS)} "
                         "(or --tolerance_ms LATE/EARLY for your own window)") from None
