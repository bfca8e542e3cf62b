"""syncnet-train's loop: prepare the data once, then a training loop that any number of
processes can run together (torch DistributedDataParallel), writing only from rank 0.

`prepare` and `train_worker` are the two halves of a run (syncnet.train.dispatch.train calls
them): another engine (Ray Train, a scheduler) can call `train_worker(plan, ...)` in each of its
workers once it has set up torch.distributed, with the plan that `prepare` made.
"""
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import torch
from torch import nn

from syncnet.errors import InputError
from syncnet.io.fileio import save_json
from syncnet.runtime.devices import resolve_device
from syncnet.runtime.progress import progress_bar
from syncnet.train.checkpoints import (
    CHECKPOINT_FILE,
    CURVES_FILE,
    LAST_MODEL_FILE,
    METRICS_FILE,
    MODEL_FILE,
    RECORD_FILE,
    Recorder,
    load_model,
    plain_state_dict,
    resume_state,
)
from syncnet.train.data import CACHE_FOLDER, PairBatches, find_clips, load_clips, split_clips
from syncnet.train.distributed import check_split, process_ranks, replica_digests
from syncnet.train.losses import bce_loss, contrastive_loss
from syncnet.train.options import TrainOptions
from syncnet.train.validation import VAL_FOLDER, VSHIFT, make_val_items, validate

log = logging.getLogger(__name__)


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


def total_steps(options, n_windows):
    if options.epochs:
        return max(1, math.ceil(options.epochs * n_windows / options.batch_size))
    return options.max_steps


def check_gpu_options(options, device):
    """bf16 and cuDNN's autotuning are for CUDA: on another device they are refused, not ignored."""
    for name, value, default in (("precision", options.precision, "fp32"),
                                 ("cudnn_benchmark", options.cudnn_benchmark, "off")):
        if value != default and device.type != "cuda":
            raise InputError(f"--{name} {value} needs a CUDA device (--device cuda): leave it at {default} on "
                             f"{device.type}")


def prepare(inputs, out, options, *, data_dir=None, val=None, init=None, device="auto", resume=False,
            stop=None, quiet=True, make_val=True):
    """A TrainPlan: the clips found, decoded into out/cache (each unusable one skipped with one
    line), split into training and validation, and the validation videos made."""
    paths = find_clips(inputs, data_dir, exclude=out)
    val_paths = find_clips(val, exclude=out) if val else None
    if val_paths is None:
        paths, val_paths = split_clips(paths, options.val_share, options.seed)
    else:
        check_held_out(paths, val_paths)
    cache = os.path.join(out, CACHE_FOLDER)
    with_mp3 = options.mp3_share > 0
    if make_val:  # the process that decodes (under torchrun, the others read what rank 0 decoded)
        log.info("decoding %d clips into %s (once: a resumed run reads them from there)",
                 len(paths) + len(val_paths), cache)
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


def check_held_out(paths, val_paths):
    """Refuse --val clips that are also training clips: a model is not validated on what it trained on."""
    training = {os.path.realpath(path) for path in paths}
    both = [path for path in val_paths if os.path.realpath(path) in training]
    if both:
        raise InputError(f"--val: {len(both)} of {len(val_paths)} validation clips are also training clips "
                         f"({both[0]}): remove them from DATA or from --val")


def _reasons(skipped):
    kinds = {}
    for reason in skipped.values():
        kinds[reason.split(":")[0]] = kinds.get(reason.split(":")[0], 0) + 1
    return "; ".join(f"{count} {kind}" for kind, count in kinds.items()) or "none"


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


def _log_progress(step, start, steps, loss, seconds):
    rate = (step - start) / seconds if seconds > 0 else 0.0
    left = f", about {(steps - step) / rate:.0f} s left" if rate > 0 else ""
    log.info("step %d of %d: loss %.4g, %.2f steps/s%s", step, steps, loss, rate, left)


def train_worker(plan, stop=None, quiet=True):
    """The training loop of one process, rank and world size from torch.distributed (set up by
    the caller: torchrun via `process_group`, or another engine). Returns a TrainResult."""
    started = time.time()
    options = plan.options
    rank, world_size, local_rank = process_ranks()
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
    state = resume_state(plan)
    start, rows, best = 0, [], None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, rows, best = state["step"], list(state["rows"]), state["best"]
        if start > steps:
            raise InputError(f"--resume: the run in {plan.out} is at step {start}, beyond the {steps} steps asked "
                             f"for: give --max_steps (or --epochs) for {start} steps or more")
        log.info("resuming at step %d of %d", start, steps)
    network = PairNetwork(model)
    if world_size > 1:
        network = nn.parallel.DistributedDataParallel(network, device_ids=[local_rank] if device.type == "cuda"
                                                      else None)
    recorder = Recorder(plan, rows, best) if rank == 0 else None
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
                recorder.write_rows()
                if bar.disable:  # no bar on a file or a pipe: a line per row instead
                    _log_progress(step, start, steps, recorder.rows[-1]["loss"], time.time() - started)
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
                   "world_size": world_size, "replica_digests": digests, "steps": step, "total_steps": steps,
                   "interrupted": interrupted,
                   "final_metrics": metrics, "best": result.best, "seconds": round(result.seconds, 1),
                   "files": [MODEL_FILE, LAST_MODEL_FILE, CHECKPOINT_FILE, METRICS_FILE, CURVES_FILE]},
                  os.path.join(plan.out, RECORD_FILE))
    return result
