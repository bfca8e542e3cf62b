"""syncnet-train's entry point: `train` refuses a run that cannot succeed, then runs the loop
in this process (or in each of torchrun's), or on Ray Train workers (syncnet.train.ray_engine).

A run owns its --out: it locks it from inside (`.lock`), and a run refused or failing before its
first step removes what it made there (the folder itself when it made it), so nothing is left.
"""
import contextlib
import os
import re
import shutil

import torch

from syncnet.errors import InputError
from syncnet.io.locking import FolderLock
from syncnet.runtime.devices import resolve_device
from syncnet.runtime.ray_cluster import import_ray
from syncnet.train.checkpoints import CHECKPOINT_FILE, check_resumable, load_model
from syncnet.train.distributed import barrier, check_environment, process_group
from syncnet.train.loop import check_gpu_options, prepare, train_worker
from syncnet.train.options import ENGINES, TrainOptions
from syncnet.train.ray_engine import train_on_ray

URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _paths(data, what):
    """DATA as a list of paths: one path (a str or os.PathLike) is one item, not its letters."""
    if data is None:
        return None
    if isinstance(data, (str, bytes, os.PathLike)):
        return [data]
    try:
        return list(data)
    except TypeError:
        raise InputError(f"{what}: expected a path or a list of paths, got {type(data).__name__}") from None


def _options(options):
    """TrainOptions, from TrainOptions or a dict of its fields (checked like the command line's)."""
    if isinstance(options, TrainOptions):
        return options
    if isinstance(options, dict):
        known = set(TrainOptions.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise InputError(f"options: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a training "
                             "option (see syncnet.train.options.TrainOptions)")
        return TrainOptions(**options)
    raise InputError(f"options: expected TrainOptions or a dict of its fields, got {type(options).__name__}")


def _local_out(out):
    out = os.fspath(out)
    if isinstance(out, bytes):
        out = os.fsdecode(out)
    if URI.match(out):
        raise InputError(f"--out {out}: training writes a local (or mounted) folder, not object storage: train "
                         "into a folder, then copy the model where it belongs")
    return os.path.abspath(out)


def _missing_top(folder):
    """The outermost of `folder` and its parents that does not exist yet (None: it exists)."""
    top = None
    while not os.path.lexists(folder):
        top, folder = folder, os.path.dirname(folder)
    return top


@contextlib.contextmanager
def _owned(out):
    """--out made if missing, and locked from inside, for the block. A failure before the block
    marks the run started (the yielded dict's "started") removes what this run made: the folders
    it created, or else its lock file."""
    made = _missing_top(out)
    lock = FolderLock(out, "choose another --out", inside=True)
    try:
        os.makedirs(out, exist_ok=True)
        lock_made = not os.path.exists(lock.path)
        lock.acquire()
    except OSError as error:
        if made:
            shutil.rmtree(made, ignore_errors=True)
        raise InputError(f"--out {out} is not writable ({error.strerror or error}): choose a folder you can "
                         "write to") from None
    run = {"started": False}
    try:
        yield run
    except BaseException:
        if run["started"]:
            lock.release()
        elif made:
            lock.release()
            shutil.rmtree(made, ignore_errors=True)
        elif lock_made:
            lock.discard()
        else:
            lock.release()
        raise
    lock.release()


def train(inputs, out, options=TrainOptions(), *, data_dir=None, val=None, init=None, resume=False,
          device="auto", stop=None, quiet=True, engine=ENGINES[0], num_workers=1, use_gpu=False, ray_address=None):
    """Train SyncNet on the face clips `inputs` name (a path or a list of them: folders, list
    files, videos; `data_dir`: a run_pipeline data folder's pycrop/) into the local folder `out`.
    `options` is a TrainOptions or a dict of its fields. See docs/training.md.

    Refused before any training, leaving nothing behind: an --out that is not writable, that
    another run holds, or that names object storage; an --init that is not a SyncNet state dict;
    a run folder to be resumed that is not one, or whose run had another recipe; a bad torchrun
    environment; --engine ray without the ray extra. `stop` (a threading.Event) ends the run
    after the current step, keeping its checkpoint (and ends a wait for torchrun's processes).

    engine="ray" runs the loop in `num_workers` Ray Train workers (one GPU each with `use_gpu`)
    on the cluster at `ray_address` (default: a Ray runtime started on this machine); see
    syncnet.train.ray_engine.
    """
    if engine not in ENGINES:
        raise InputError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    inputs, val, options = _paths(inputs, "DATA") or [], _paths(val, "--val"), _options(options)
    out = _local_out(out)
    rank, _, _ = check_environment()
    if engine == "ray":
        import_ray()  # the extra is missing: said before any decoding
    if init:
        load_model(init)  # a bad --init fails here, before the data is decoded
    check_gpu_options(options, torch.device("cuda") if engine == "ray" and use_gpu else resolve_device(device))
    with _owned(out) if rank == 0 else contextlib.nullcontext({}) as run:
        checkpoint = os.path.join(out, CHECKPOINT_FILE)
        if resume and not os.path.isfile(checkpoint):
            raise InputError(f"--resume: {out} holds no {CHECKPOINT_FILE} to continue from")
        if not resume and os.path.isfile(checkpoint):
            raise InputError(f"--out {out} already holds a training run: pass --resume to continue it, or choose "
                             "another --out")
        if resume:
            check_resumable(out, options, init)
        if engine == "ray":
            plan = prepare(inputs, out, options, data_dir=data_dir, val=val, init=init,
                           device="cuda" if use_gpu else "cpu", resume=resume, stop=stop, quiet=quiet)
            run["started"] = True
            return train_on_ray(plan, num_workers, use_gpu, ray_address, stop, quiet)
        with process_group(resolve_device(device), stop):
            if rank != 0:
                barrier()  # rank 0 decodes the clips and makes the validation videos first
            plan = prepare(inputs, out, options, data_dir=data_dir, val=val, init=init, device=device,
                           resume=resume, stop=stop, quiet=quiet, make_val=rank == 0)
            if rank == 0:
                barrier()
            run["started"] = True
            result = train_worker(plan, stop=stop, quiet=quiet)
    return result if rank == 0 else None  # the other processes of a torchrun report nothing
