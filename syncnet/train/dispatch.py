"""syncnet-train's entry point: `train` refuses a run that cannot succeed, then runs the loop
in this process (or in each of torchrun's), or on Ray Train workers (syncnet.train.ray_engine)."""
import contextlib
import os
import tempfile

import torch

from syncnet.errors import InputError
from syncnet.io.locking import FolderLock
from syncnet.runtime.devices import resolve_device
from syncnet.train.checkpoints import CHECKPOINT_FILE, load_model
from syncnet.train.distributed import barrier, process_group, process_ranks
from syncnet.train.loop import check_gpu_options, prepare, train_worker
from syncnet.train.options import ENGINES, TrainOptions
from syncnet.train.ray_engine import train_on_ray


def check_writable(out):
    """Refuse an --out that cannot be written, before anything is decoded or trained."""
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as error:
        raise InputError(f"--out {out} is not writable ({error.strerror or error}): choose a folder you can "
                         "write to") from None


def train(inputs, out, options=TrainOptions(), *, data_dir=None, val=None, init=None, resume=False,
          device="auto", stop=None, quiet=True, engine=ENGINES[0], num_workers=1, use_gpu=False, ray_address=None):
    """Train SyncNet on the face clips `inputs` name (folders, list files, videos; `data_dir`: a
    run_pipeline data folder's pycrop/) into the folder `out`. See docs/training.md.

    Refused before any training: an --out that is not writable or that another run holds, an
    --init that is not a SyncNet state dict, a run folder to be resumed that is not one. `stop`
    (a threading.Event) ends the run after the current step, keeping its checkpoint.

    engine="ray" runs the loop in `num_workers` Ray Train workers (one GPU each with `use_gpu`)
    on the cluster at `ray_address` (default: a Ray runtime started on this machine); see
    syncnet.train.ray_engine.
    """
    if engine not in ENGINES:
        raise InputError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    out = os.path.abspath(os.fspath(out))
    rank, _, _ = process_ranks()
    check_writable(out)
    lock = FolderLock(out, "choose another --out") if rank == 0 else contextlib.nullcontext()
    with lock:
        checkpoint = os.path.join(out, CHECKPOINT_FILE)
        if resume and not os.path.isfile(checkpoint):
            raise InputError(f"--resume: {out} holds no {CHECKPOINT_FILE} to continue from")
        if not resume and os.path.isfile(checkpoint):
            raise InputError(f"--out {out} already holds a training run: pass --resume to continue it, or choose "
                             "another --out")
        if init:
            load_model(init)  # a bad --init fails here, before the data is decoded
        check_gpu_options(options, torch.device("cuda") if engine == "ray" and use_gpu else resolve_device(device))
        if engine == "ray":
            plan = prepare(inputs, out, options, data_dir=data_dir, val=val, init=init,
                           device="cuda" if use_gpu else "cpu", resume=resume, stop=stop, quiet=quiet)
            return train_on_ray(plan, num_workers, use_gpu, ray_address, stop, quiet)
        with process_group(resolve_device(device)):
            if rank != 0:
                barrier()  # rank 0 decodes the clips and makes the validation videos first
            plan = prepare(inputs, out, options, data_dir=data_dir, val=val, init=init, device=device,
                           resume=resume, stop=stop, quiet=quiet, make_val=rank == 0)
            if rank == 0:
                barrier()
            result = train_worker(plan, stop=stop, quiet=quiet)
    return result if rank == 0 else None  # the other processes of a torchrun report nothing
