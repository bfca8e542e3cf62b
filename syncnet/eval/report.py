"""The text a protocol's evaluation writes and prints: its own per-track scores file, one line
per dataset summary, and one line per paired comparison."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np

from syncnet.eval.protocols import Protocol, TrackScore, get_protocol


def _float32_text(value: float) -> str:
    # Wav2Lip prints str() of 0-d float32 numpy arrays: numpy's shortest float32 repr.
    return str(np.float32(value))


def format_scores_txt(protocol: "str | Protocol", tracks: Sequence[TrackScore]) -> Optional[str]:
    """The protocol's own per-track text file, or None where the source writes none.

    wav2lip: all_scores.txt, one line per track in the order given, ``LSE-D LSE-C`` separated by
    one space, each as the source prints it (str of a float32: ``5.3530655 10.021``). The file
    has no video names, and an empty input gives an empty file, as the source leaves. The other
    protocols print only summaries (latentsync, wav2lip-lrs) or write a benchmark-specific CSV
    (MoChaBench: category and index columns we do not have), so they get None.
    """
    spec = get_protocol(protocol)
    if spec.name != "wav2lip":
        return None
    return "".join(f"{_float32_text(t.lse_d)} {_float32_text(t.lse_c)}\n" for t in tracks)


def summary_line(summary: Mapping[str, Any]) -> str:
    """One line for a dataset_summary result, e.g.
    ``LSE-D 7.012 [6.95, 7.07]  LSE-C 7.845 [7.80, 7.89]  n=100  protocol wav2lip``.

    Means get 3 decimals and interval ends 2. LSE-D prints as ``LSE-D n/a`` where the protocol
    reports none, so lines stay aligned. Track units print as ``n=120 tracks of 100 videos``,
    and excluded/failed counts are appended when nonzero, so a short dataset is visible.
    """
    def metric(label: str, value: Optional[Mapping[str, Any]]) -> str:
        if value is None:
            return f"{label} n/a"
        lo, hi = value["ci95"]
        return f"{label} {value['mean']:.3f} [{lo:.2f}, {hi:.2f}]"

    if summary["unit"] == "track":
        count = f"n={summary['n']} tracks of {summary['n_scored']} videos"
    else:
        count = f"n={summary['n']}"
    parts = [metric("LSE-D", summary["lse_d"]), metric("LSE-C", summary["lse_c"]), count]
    for label in ("excluded", "failed"):
        if summary[f"n_{label}"]:
            parts.append(f"{label} {summary[f'n_{label}']}")
    parts.append(f"protocol {summary['protocol']}")
    return "  ".join(parts)


def comparison_line(result):
    """One line for a paired comparison, e.g. `B - A: LSE-D -0.412 [-0.52, -0.30]  LSE-C +0.801 [...]  n=100 paired`."""
    def metric(label, value):
        if value is None:
            return f"{label} n/a"
        lo, hi = value["ci95"]
        return f"{label} {value['mean_diff']:+.3f} [{lo:+.2f}, {hi:+.2f}]"

    return (f"B - A: {metric('LSE-D', result['lse_d'])}  {metric('LSE-C', result['lse_c'])}  "
            f"n={result['n_paired']} paired ({result['n_only_a']} only in A, {result['n_only_b']} only in B)  "
            f"protocol {result['protocol']}")


def speaker_summary_line(summary):
    """The active-speaker protocols' last line, e.g. `mAP 0.912 [0.850, 0.950]  n=3 videos  protocol ava`."""
    def interval(numbers):
        return "" if numbers.get("ci95") is None else " [{:.3f}, {:.3f}]".format(*numbers["ci95"])

    metric = "mAP" if summary["protocol"] == "ava" else "mean_F1"
    line = f"{metric} {summary[metric]:.3f}{interval(summary)}"
    if "desync" in summary:
        moved = summary["desync"]
        line += f"  desync {moved['shift_ms']:g} ms: {metric} {moved[metric]:.3f}{interval(moved)}"
    return f"{line}  n={summary['videos']} videos  protocol {summary['protocol']}"
