"""syncnet-train on a Ray cluster: Ray Train's TorchTrainer runs the same loop (train_worker) in
each of its workers, after setting up their torch.distributed group (gloo on CPU, NCCL on GPU).

The driver prepares the data once (the clips decoded into DIR/cache, the validation videos) and
joins or starts the cluster as syncnet-batch --engine ray does. Every worker reads DIR and rank 0
writes the run's files there, so on a cluster of several machines DIR must be a folder that
every node mounts at the same path (NFS and the like); Ray Train asks the same of its own
storage, DIR/ray.
"""
import json
import os
import threading

from syncnet.errors import InputError, one_line
from syncnet.options import RayOptions
from syncnet.runtime.ray_cluster import connect, import_ray
from syncnet.train.checkpoints import MODEL_FILE, RECORD_FILE, checkpoint_step
from syncnet.train.distributed import check_split
from syncnet.train.loop import TrainResult, train_worker

RAY_STORAGE = "ray"   # Ray Train's own records, under DIR


def _run_worker(config):
    """One Ray Train worker: the training loop, on the rank Ray Train gave this process."""
    train_worker(config["plan"], quiet=True)


def train_on_ray(plan, num_workers, use_gpu=False, address=None, stop=None, quiet=True):
    """Train `plan` with `num_workers` Ray Train workers (one GPU each with `use_gpu`); the
    TrainResult is read back from what rank 0 wrote. `stop` set: the workers are ended, and the
    last checkpoint is what is kept."""
    ray = import_ray()
    train_api = import_ray("ray.train")
    torch_api = import_ray("ray.train.torch")
    check_split(plan.options.batch_size, num_workers)
    before = _mtime(os.path.join(plan.out, RECORD_FILE))
    started = connect(RayOptions(address=address), quiet)
    outcome = {}
    try:
        trainer = torch_api.TorchTrainer(
            _run_worker, train_loop_config={"plan": plan},
            scaling_config=train_api.ScalingConfig(num_workers=num_workers, use_gpu=use_gpu),
            run_config=train_api.RunConfig(storage_path=os.path.join(plan.out, RAY_STORAGE), name="train"))

        def fit():
            try:
                outcome["result"] = trainer.fit()
            except Exception as error:  # Ray wraps a worker's failure in its own types
                outcome["error"] = error

        runner = threading.Thread(target=fit, daemon=True)
        runner.start()
        while runner.is_alive() and not (stop is not None and stop.is_set()):
            runner.join(timeout=0.5)
        interrupted = runner.is_alive()
    finally:
        if started or (stop is not None and stop.is_set()):
            ray.shutdown()
    error = outcome.get("error") or getattr(outcome.get("result"), "error", None)
    if error is not None and not interrupted:
        raise InputError(f"--engine ray: training failed on the cluster ({one_line(error, 300)})") from None
    record = _record_written_since(os.path.join(plan.out, RECORD_FILE), before)
    if record is None:  # ended before rank 0 wrote its record: the checkpoint, if any, is kept
        if not interrupted:
            raise InputError("--engine ray: the workers ended without writing train.json; rerun with --debug")
        return TrainResult(out=plan.out, model=os.path.join(plan.out, MODEL_FILE), steps=checkpoint_step(plan.out),
                           total_steps=0, metrics={}, best={}, counts=plan.counts, seconds=0.0, interrupted=True)
    return TrainResult(out=plan.out, model=os.path.join(plan.out, MODEL_FILE), steps=record["steps"],
                       total_steps=record["total_steps"], metrics=record["final_metrics"], best=record["best"],
                       counts=record["data"], seconds=record["seconds"],
                       interrupted=interrupted or record["interrupted"])


def _mtime(path):
    return os.stat(path).st_mtime_ns if os.path.isfile(path) else None


def _record_written_since(path, before):
    """train.json, when rank 0 wrote it during this run (a resumed folder holds an older one)."""
    if _mtime(path) is None or _mtime(path) == before:
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
