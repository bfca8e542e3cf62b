#!/usr/bin/env python3
"""Time what a user waits for before anything is done: every console command's `--help` and
`import syncnet`, each in a fresh interpreter, and list which of the heavy modules (torch, ray,
cv2, ...) each imported; none should.

    python benchmarks/bench_startup.py [--repeats N]     (also: python benchmarks/bench.py --startup)

Importing this module runs nothing.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import REPO_ROOT, loadavg  # noqa: E402

HEAVY_MODULES = ("torch", "ray", "cv2", "pyarrow", "boto3", "scipy", "matplotlib")
STARTUP_CHILD = """
import json, sys, time
start = time.perf_counter()
if {module!r} == "syncnet":
    import syncnet
else:
    sys.argv = [{name!r}, "--help"]
    import importlib, io, contextlib
    main = getattr(importlib.import_module({module!r}), {function!r})
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main()
        except SystemExit:
            pass
print(json.dumps([time.perf_counter() - start, [m for m in {heavy!r} if m in sys.modules]]))
"""


def console_commands():
    """(command, module, function) of every console command in pyproject.toml."""
    import tomllib

    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return [(name, *target.split(":")) for name, target in scripts.items()]


def time_startup(repeats):
    """Rows of (what, median wall s of the whole child process, median in-process s, median CPU s
    of the child (user + system: what an idle machine's wall time would be, near enough),
    heavy modules)."""
    import resource

    probes = [("import syncnet", "syncnet", None)] + \
        [(f"{name} --help", module, function) for name, module, function in console_commands()]
    rows = []
    for what, module, function in probes:
        code = STARTUP_CHILD.format(module=module, name=what.split()[0], function=function, heavy=HEAVY_MODULES)
        walls, inside, cpu, heavy = [], [], [], set()
        for _ in range(repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                                  check=True)
            walls.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            seconds, imported = json.loads(done.stdout.strip().splitlines()[-1])
            inside.append(seconds)
            heavy.update(imported)
        rows.append((what, statistics.median(walls), statistics.median(inside), statistics.median(cpu),
                     sorted(heavy)))
    return rows


def startup_table(repeats):
    lines = ["Start-up (%s, %d CPU(s), load %s; median of %d fresh interpreters; target < 1 s idle)"
             % (platform.node(), os.cpu_count(), loadavg(), repeats),
             "%-26s %9s %12s %7s  %s" % ("command", "wall s", "in-process s", "CPU s", "heavy modules imported")]
    for what, wall, inside, cpu, heavy in time_startup(repeats):
        lines.append("%-26s %9.3f %12.3f %7.3f  %s" % (what, wall, inside, cpu, ", ".join(heavy) or "none"))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each (default 5)")
    opt = parser.parse_args(argv)
    print(startup_table(max(1, opt.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
