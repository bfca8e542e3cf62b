"""syncnet-train's engine: prepare the data once, then a training loop that any number of
processes can run together (torch DistributedDataParallel), writing only from rank 0.

`train` is what the command calls. `prepare` and `train_worker` are its two halves: another
engine (Ray Train, a scheduler) can call `train_worker(plan, ...)` in each of its workers once
it has set up torch.distributed, with the plan that `prepare` made.
"""
import contextlib
import copy
import csv
import io
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from syncnet.errors import InputError
from syncnet.io.fileio import atomic_path, save_json, save_text
from syncnet.io.locking import FolderLock
from syncnet.models.loading import load_syncnet_weights
from syncnet.render.plots import plot_training
from syncnet.runtime.devices import resolve_device
from syncnet.runtime.progress import progress_bar
from syncnet.train.data import CACHE_FOLDER, PairBatches, find_clips, load_clips, split_clips
from syncnet.train.options import ENGINES, TrainOptions
from syncnet.train.validation import VAL_FOLDER, VSHIFT, make_val_items, validate

log = logging.getLogger(__name__)

MODEL_FILE = "syncnet_trained.model"      # the best by validation: the official file's format
LAST_MODEL_FILE = "syncnet_last.model"    # the last step's weights, same format
CHECKPOINT_FILE = "checkpoint.pt"         # everything --resume needs
METRICS_FILE = "metrics.csv"
CURVES_FILE = "curves.png"
RECORD_FILE = "train.json"
METRIC_COLUMNS = ("step", "loss", "val_exact", "val_within1", "pos_dist", "neg_dist", "lse_c", "seconds")


@dataclass
class TrainPlan:
    """What every training process needs, made once by `prepare` (picklable)."""
    out: str
    options: TrainOptions
    train_clips: list                      # usable clip paths, decoded in out/cache
    val_items: list                        # ValItem: held-out clips with known shifts
    init: Optional[str] = None
    device: str = "auto"
    resume: bool = False
    counts: dict = field(default_factory=dict)


@dataclass
class TrainResult:
    """What a training run did: where the model went, the steps, the last and best validation."""
    out: str
    model: str                 # the path of syncnet_trained.model
    steps: int                 # steps done
    total_steps: int
    metrics: dict              # the last validation's
    best: dict                 # the best validation's (its step included)
    counts: dict
    seconds: float
    interrupted: bool = False
    state: Optional[dict] = field(default=None, repr=False)  # this process's final weights (official format)


class PairNetwork(nn.Module):
    """Both streams of a SyncNetModel.S in one forward, so DistributedDataParallel can wrap them."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, lips, audio):
        return self.model.forward_lip(lips), self.model.forward_aud(audio)


def contrastive_loss(lip, positive, negative, margin):
    """The paper's loss on the Euclidean distance the scorer uses: positives pulled together,
    negatives pushed beyond `margin`; the two halves weigh equally whatever the ratio.

    The zero vector is one more negative of every lip window: the scorer compares a window
    with zero audio features at shifts past either end of the clip (the reference's padding), so
    a lip feature nearer to 0 than to its own audio would make an end shift win on short clips.
    """
    repeats = len(negative) // len(lip)
    near = F.pairwise_distance(lip, positive)
    far = torch.cat([F.pairwise_distance(lip.repeat_interleave(repeats, 0), negative),
                     F.pairwise_distance(lip, torch.zeros_like(lip))])
    return 0.5 * (near.pow(2).mean() + F.relu(margin - far).pow(2).mean())


def bce_loss(lip, positive, negative):
    """Wav2Lip's expert loss: binary cross-entropy on the cosine of the ReLU'd embeddings."""
    repeats = len(negative) // len(lip)
    lips = F.relu(torch.cat([lip, lip.repeat_interleave(repeats, 0)]))
    audio = F.relu(torch.cat([positive, negative]))
    similarity = F.cosine_similarity(lips, audio).clamp(1e-7, 1 - 1e-7)
    labels = torch.cat([torch.ones(len(positive)), torch.zeros(len(negative))]).to(similarity.device)
    weights = torch.cat([torch.full((len(positive),), 0.5 / len(positive)),
                         torch.full((len(negative),), 0.5 / len(negative))]).to(similarity.device)
    return (F.binary_cross_entropy(similarity, labels, reduction="none") * weights).sum()


def total_steps(options, n_windows):
    if options.epochs:
        return max(1, math.ceil(options.epochs * n_windows / options.batch_size))
    return options.max_steps


def check_writable(out):
    """Refuse an --out that cannot be written, before anything is decoded or trained."""
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as error:
        raise InputError(f"--out {out} is not writable ({error.strerror or error}): choose a folder you can "
                         "write to") from None


def _distributed():
    """(rank, world size, local rank) of this process: torch.distributed's, or torchrun's."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


@contextlib.contextmanager
def process_group(device):
    """torch.distributed set up for torchrun's processes (gloo on CPU, NCCL on CUDA) when it is
    not already; a single process needs none."""
    import torch.distributed as dist

    _, world_size, _ = _distributed()
    if world_size == 1 or dist.is_initialized():
        yield
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


def check_gpu_options(options, device):
    """bf16 and cuDNN's autotuning are for CUDA: on another device they are refused, not ignored."""
    for name, value, default in (("precision", options.precision, "fp32"),
                                 ("cudnn_benchmark", options.cudnn_benchmark, "off")):
        if value != default and device.type != "cuda":
            raise InputError(f"--{name} {value} needs a CUDA device (--device cuda): leave it at {default} on "
                             f"{device.type}")


def check_split(batch_size, processes):
    """Each process takes an equal share of every batch."""
    if batch_size % processes:
        raise InputError(f"--batch_size {batch_size} does not split over {processes} processes: use a multiple "
                         "of the process count")


def replica_digests(model, world_size):
    """A digest of every process's weights (rank order), gathered to all: DistributedDataParallel
    keeps them identical, so they must agree. [] for a single process."""
    if world_size == 1:
        return []
    import hashlib

    import torch.distributed as dist

    digest = hashlib.sha256()
    for name, value in sorted(plain_state_dict(model).items()):
        digest.update(name.encode())
        digest.update(value.numpy().tobytes())
    digests = [None] * world_size
    dist.all_gather_object(digests, digest.hexdigest()[:16])
    return digests


def _barrier():
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def prepare(inputs, out, options, *, data_dir=None, val=None, init=None, device="auto", resume=False,
            stop=None, quiet=True, make_val=True):
    """A TrainPlan: the clips found, decoded into out/cache (each unusable one skipped with one
    line), split into training and validation, and the validation videos made."""
    paths = find_clips(inputs, data_dir)
    val_paths = find_clips(val) if val else None
    if val_paths is None:
        paths, val_paths = split_clips(paths, options.val_share, options.seed)
    cache = os.path.join(out, CACHE_FOLDER)
    with_mp3 = options.mp3_share > 0
    with progress_bar(len(paths) + len(val_paths), "preparing clips", "clip", quiet) as bar:
        training = load_clips(paths, cache, with_mp3, bar, stop)
        held_out = load_clips(val_paths, cache, False, bar, stop)
    skipped = {**training.skipped, **held_out.skipped}
    if not training.clips:
        raise InputError(f"no usable training clip: {len(skipped)} of {len(paths) + len(val_paths)} skipped "
                         f"({_reasons(skipped)}); SyncNet trains on 224x224 face clips with audio, at least "
                         "6 frames long")
    usable_val = [clip.path for clip in held_out.clips if clip.n_windows > VSHIFT]
    if len(usable_val) < len(held_out.clips):
        log.warning("%d validation clip(s) have %d windows or fewer and are not used to validate",
                    len(held_out.clips) - len(usable_val), VSHIFT)
    if not usable_val:
        log.warning("no validation clip: the accuracy is not measured and the last step's model is kept")
    items = []
    if usable_val and make_val:
        items = make_val_items(usable_val, options.val_items, options.val_max_shift, options.seed,
                               os.path.join(out, VAL_FOLDER))
    counts = {"clips_found": len(paths) + len(val_paths), "clips_skipped": len(skipped),
              "skipped": skipped, "train_clips": len(training.clips), "train_windows": training.n_windows,
              "val_clips": len(usable_val), "val_items": len(items)}
    log.info("%d training clips (%d windows), %d validation clips, %d skipped", len(training.clips),
             training.n_windows, len(usable_val), len(skipped))
    return TrainPlan(out=out, options=options, train_clips=[clip.path for clip in training.clips],
                     val_items=items, init=init, device=device, resume=resume, counts=counts)


def _reasons(skipped):
    kinds = {}
    for reason in skipped.values():
        kinds[reason.split(":")[0]] = kinds.get(reason.split(":")[0], 0) + 1
    return "; ".join(f"{count} {kind}" for kind, count in kinds.items()) or "none"


def load_model(init):
    """A SyncNetModel.S: from `init` (any model in the official format), else seeded fresh weights."""
    from syncnet.models.network import S

    model = S()
    if init:
        load_syncnet_weights(model, init)
    return model


def _batchnorm_frozen(options, init):
    return options.batchnorm == "frozen" or (options.batchnorm == "auto" and bool(init))


def _set_train_mode(model, freeze_batchnorm):
    model.train()
    if freeze_batchnorm:
        # Small fine-tuning batches would drag the statistics of a model trained on millions of
        # windows; its scale and shift still learn.
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def plain_state_dict(model):
    """The official file's format: SyncNetModel.S's state dict, CPU tensors, nothing else."""
    return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}


def _save_torch(obj, path):
    with atomic_path(path) as temporary:
        torch.save(obj, temporary)


def _better(metrics, best):
    key = ("val_within1", "val_exact", "lse_c")
    return best is None or tuple(metrics[k] for k in key) > tuple(best[k] for k in key)


class _Recorder:
    """Rank 0's files: metrics.csv, curves.png, checkpoints and the models."""

    def __init__(self, plan, rows, best):
        self.plan, self.rows, self.best = plan, rows, best

    def row(self, step, **values):
        if self.rows and self.rows[-1]["step"] == step:
            self.rows[-1].update(values)
        else:
            self.rows.append({"step": step, **values})

    def write_metrics(self):
        text = io.StringIO()
        writer = csv.DictWriter(text, METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({name: (f"{value:.6g}" if isinstance(value, float) else value)
                             for name, value in row.items()})
        save_text(text.getvalue(), os.path.join(self.plan.out, METRICS_FILE))
        margin = self.plan.options.margin if self.plan.options.loss == "contrastive" else None
        plot_training(self.rows, os.path.join(self.plan.out, CURVES_FILE), margin)

    def checkpoint(self, model, optimizer, step):
        state = plain_state_dict(model)
        _save_torch(state, os.path.join(self.plan.out, LAST_MODEL_FILE))
        if not self.plan.val_items or self.best is None:
            _save_torch(state, os.path.join(self.plan.out, MODEL_FILE))
        _save_torch({"model": state, "optimizer": optimizer.state_dict(), "step": step, "rows": self.rows,
                     "best": self.best}, os.path.join(self.plan.out, CHECKPOINT_FILE))
        self.write_metrics()

    def keep_if_best(self, model, metrics, step):
        if _better(metrics, self.best):
            self.best = {**metrics, "step": step}
            _save_torch(plain_state_dict(model), os.path.join(self.plan.out, MODEL_FILE))


def read_checkpoint(out):
    """The checkpoint in run folder `out`: its "step", weights and optimizer state."""
    return torch.load(os.path.join(out, CHECKPOINT_FILE), map_location="cpu", weights_only=True)


def checkpoint_step(out):
    """The step of the checkpoint in run folder `out`; 0 when it has none."""
    return read_checkpoint(out)["step"] if os.path.isfile(os.path.join(out, CHECKPOINT_FILE)) else 0


def _resume_state(plan):
    path = os.path.join(plan.out, CHECKPOINT_FILE)
    if not plan.resume:
        return None
    try:
        return read_checkpoint(plan.out)
    except Exception as error:  # torch raises many types for damaged files
        raise InputError(f"--resume: {path} cannot be read ({str(error).splitlines()[0][:120]}): start a "
                         "new run into another --out") from None


def train_worker(plan, stop=None, quiet=True):
    """The training loop of one process, rank and world size from torch.distributed (set up by
    the caller: torchrun via `process_group`, or another engine). Returns a TrainResult."""
    started = time.time()
    options = plan.options
    rank, world_size, local_rank = _distributed()
    check_split(options.batch_size, world_size)
    device = resolve_device(plan.device)
    if device.type == "cuda" and world_size > 1:
        device = torch.device("cuda", local_rank)
    check_gpu_options(options, device)
    torch.backends.cudnn.benchmark = options.cudnn_benchmark == "on"
    clips = load_clips(plan.train_clips, os.path.join(plan.out, CACHE_FOLDER), options.mp3_share > 0).clips
    steps = total_steps(options, sum(clip.n_windows for clip in clips))

    torch.manual_seed(options.seed)
    model = load_model(plan.init).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    state = _resume_state(plan)
    start, rows, best = 0, [], None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, rows, best = state["step"], list(state["rows"]), state["best"]
        log.info("resuming at step %d of %d", start, steps)
    network = PairNetwork(model)
    if world_size > 1:
        network = nn.parallel.DistributedDataParallel(network, device_ids=[local_rank] if device.type == "cuda"
                                                      else None)
    recorder = _Recorder(plan, rows, best) if rank == 0 else None
    freeze = _batchnorm_frozen(options, plan.init)
    batches = PairBatches(clips, options, rank, world_size, steps)
    loader = torch.utils.data.DataLoader(batches, batch_size=None, sampler=range(start, steps),
                                         num_workers=options.workers)
    loss_of = ((lambda *e: contrastive_loss(*e, options.margin)) if options.loss == "contrastive"
               else bce_loss)
    metrics, losses, step, interrupted = {}, [], start, False
    with progress_bar(steps, "training", "step", quiet or rank != 0) as bar:
        bar.update(start)
        for step_index, (lips, positive, negative) in zip(range(start, steps), loader):
            if stop is not None and stop.is_set():
                interrupted = True
                break
            _set_train_mode(model, freeze)
            audio = torch.cat([positive, negative.flatten(0, 1)]).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=options.precision == "bf16"):
                lip_embedding, audio_embedding = network(lips.to(device), audio)
            loss = loss_of(lip_embedding.float(), audio_embedding[:len(positive)].float(),
                           audio_embedding[len(positive):].float())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step = step_index + 1
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3g}")
            if recorder is None:
                continue
            if step % options.log_every == 0 or step == steps:
                recorder.row(step, loss=sum(losses) / len(losses), seconds=time.time() - started)
                losses = []
            if step % options.val_every == 0 or step == steps:
                if plan.val_items:
                    metrics = validate(model, plan.val_items, plan.out, options.min_negative_shift, device)
                    recorder.row(step, **metrics)
                    recorder.keep_if_best(model, metrics, step)
                    log.info("step %d: offset found %.0f%% exactly, %.0f%% within 1 frame; LSE-C %.2f", step,
                             100 * metrics["val_exact"], 100 * metrics["val_within1"], metrics["lse_c"])
                recorder.checkpoint(model, optimizer, step)
    if recorder is not None and (interrupted or step != steps or not recorder.rows
                                 or recorder.rows[-1]["step"] != step):
        if losses:
            recorder.row(step, loss=sum(losses) / len(losses), seconds=time.time() - started)
        recorder.checkpoint(model, optimizer, step)
    result = TrainResult(out=plan.out, model=os.path.join(plan.out, MODEL_FILE), steps=step, total_steps=steps,
                         metrics=metrics, best=(recorder.best if recorder else None) or {}, counts=plan.counts,
                         seconds=time.time() - started, interrupted=interrupted, state=plain_state_dict(model))
    digests = replica_digests(model, world_size) if not interrupted else []
    if rank == 0:
        save_json({"options": asdict(options), "data": plan.counts, "init": plan.init, "device": str(device),
                   "world_size": world_size, "replica_digests": digests, "steps": step, "total_steps": steps, "interrupted": interrupted,
                   "final_metrics": metrics, "best": result.best, "seconds": round(result.seconds, 1),
                   "files": [MODEL_FILE, LAST_MODEL_FILE, CHECKPOINT_FILE, METRICS_FILE, CURVES_FILE]},
                  os.path.join(plan.out, RECORD_FILE))
    return result


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
    rank, _, _ = _distributed()
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
            from syncnet.train.ray_engine import train_on_ray

            plan = prepare(inputs, out, options, data_dir=data_dir, val=val, init=init,
                           device="cuda" if use_gpu else "cpu", resume=resume, stop=stop, quiet=quiet)
            return train_on_ray(plan, num_workers, use_gpu, ray_address, stop, quiet)
        with process_group(resolve_device(device)):
            if rank != 0:
                _barrier()  # rank 0 decodes the clips and makes the validation videos first
            plan = prepare(inputs, out, options, data_dir=data_dir, val=val, init=init, device=device,
                           resume=resume, stop=stop, quiet=quiet, make_val=rank == 0)
            if rank == 0:
                _barrier()
            result = train_worker(plan, stop=stop, quiet=quiet)
    return result if rank == 0 else None  # the other processes of a torchrun report nothing
