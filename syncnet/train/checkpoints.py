"""A training run's files: the models in the official file's format, the checkpoint --resume
continues from, metrics.csv and curves.png; written by rank 0 only."""
import csv
import dataclasses
import io
import json
import os

import torch

from syncnet.errors import InputError
from syncnet.io.fileio import atomic_path, save_text
from syncnet.models.loading import load_syncnet_weights
from syncnet.render.plots import plot_training
from syncnet.train.full_disk import named_if_full

MODEL_FILE = "syncnet_trained.model"      # the best by validation: the official file's format
LAST_MODEL_FILE = "syncnet_last.model"    # the last step's weights, same format
CHECKPOINT_FILE = "checkpoint.pt"         # everything --resume needs
METRICS_FILE = "metrics.csv"
CURVES_FILE = "curves.png"
RECORD_FILE = "train.json"
METRIC_COLUMNS = ("step", "loss", "val_exact", "val_within1", "pos_dist", "neg_dist", "lse_c", "seconds")
CHECKPOINT_KEYS = ("model", "optimizer", "step", "rows", "best")
# Options a resumed run may change: none of them changes the weights it trains (--max_steps
# may only grow: a run is never cut back below the step it reached).
RESUMABLE_CHANGES = ("max_steps", "workers", "log_every", "val_every")


def load_model(init):
    """A SyncNetModel.S: from `init` (any model in the official format), else seeded fresh weights."""
    from syncnet.models.network import S

    model = S()
    if init:
        load_syncnet_weights(model, init)
    return model


def plain_state_dict(model):
    """The official file's format: SyncNetModel.S's state dict, CPU tensors, nothing else."""
    return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}


def _written(out, name):
    """A context for writing run file `name`: a full disk is named, and the last complete
    checkpoint (written whole or not at all) is what the run keeps."""
    return named_if_full(f"writing {os.path.join(out, name)}", "the last complete checkpoint is kept: free some "
                         "space, then continue with --resume", out)


def _save_torch(obj, out, name):
    with atomic_path(os.path.join(out, name)) as temporary, _written(out, name):
        torch.save(obj, temporary)


def recipe(options, init):
    """What decides the weights a run trains: its options but those in RESUMABLE_CHANGES, and --init."""
    chosen = {name: value for name, value in dataclasses.asdict(options).items() if name not in RESUMABLE_CHANGES}
    return {**chosen, "init": os.path.abspath(init) if init else None}


def _better(metrics, best):
    key = ("val_within1", "val_exact", "lse_c")
    return best is None or tuple(metrics[k] for k in key) > tuple(best[k] for k in key)


class Recorder:
    """Rank 0's files: metrics.csv, curves.png, checkpoints and the models."""

    def __init__(self, plan, rows, best):
        self.plan, self.rows, self.best = plan, rows, best

    def row(self, step, **values):
        if self.rows and self.rows[-1]["step"] == step:
            self.rows[-1].update(values)
        else:
            self.rows.append({"step": step, **values})

    def write_rows(self):
        """metrics.csv as it stands: written as the rows come, not only at checkpoints."""
        text = io.StringIO()
        writer = csv.DictWriter(text, METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({name: (f"{value:.6g}" if isinstance(value, float) else value)
                             for name, value in row.items()})
        with _written(self.plan.out, METRICS_FILE):
            save_text(text.getvalue(), os.path.join(self.plan.out, METRICS_FILE))

    def write_metrics(self):
        self.write_rows()
        margin = self.plan.options.margin if self.plan.options.loss == "contrastive" else None
        with _written(self.plan.out, CURVES_FILE):
            plot_training(self.rows, os.path.join(self.plan.out, CURVES_FILE), margin)

    def checkpoint(self, model, optimizer, step):
        state = plain_state_dict(model)
        _save_torch(state, self.plan.out, LAST_MODEL_FILE)
        if not self.plan.val_items or self.best is None:
            _save_torch(state, self.plan.out, MODEL_FILE)
        _save_torch({"model": state, "optimizer": optimizer.state_dict(), "step": step, "rows": self.rows,
                     "best": self.best, "recipe": recipe(self.plan.options, self.plan.init)},
                    self.plan.out, CHECKPOINT_FILE)
        self.write_metrics()

    def keep_if_best(self, model, metrics, step):
        if _better(metrics, self.best):
            self.best = {**metrics, "step": step}
            _save_torch(plain_state_dict(model), self.plan.out, MODEL_FILE)


def read_checkpoint(out):
    """The checkpoint in run folder `out`: its "step", weights, optimizer state, metrics rows,
    best validation and recipe. A file that is not a syncnet-train checkpoint is refused."""
    path = os.path.join(out, CHECKPOINT_FILE)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged files
        raise InputError(f"--resume: {path} cannot be read ({str(error).splitlines()[0][:120]}): start a "
                         "new run into another --out") from None
    missing = [key for key in CHECKPOINT_KEYS if key not in state] if isinstance(state, dict) else CHECKPOINT_KEYS
    if missing or not isinstance(state["step"], int):
        raise InputError(f"--resume: {path} is not a syncnet-train checkpoint (it has no {', '.join(missing) or 'step'}"
                         "): start a new run into another --out")
    return state


def checkpoint_step(out):
    """The step of the checkpoint in run folder `out`; 0 when it has none."""
    return read_checkpoint(out)["step"] if os.path.isfile(os.path.join(out, CHECKPOINT_FILE)) else 0


def _recorded_recipe(out, state):
    """The recipe a run was trained with: its checkpoint's, else (older runs) its train.json's."""
    if "recipe" in state:
        return state["recipe"]
    try:
        with open(os.path.join(out, RECORD_FILE), encoding="utf-8") as handle:
            record = json.load(handle)
        return {**{name: value for name, value in record["options"].items() if name not in RESUMABLE_CHANGES},
                "init": record.get("init") and os.path.abspath(record["init"])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # nothing says what it was: the weights decide


def check_resumable(out, options, init):
    """Refuse, before any decoding, to --resume the run in `out` with another recipe (naming
    what differs), or with --max_steps below the step it reached."""
    state = read_checkpoint(out)
    before = _recorded_recipe(out, state)
    if before is not None:
        now = recipe(options, init)
        changed = [name for name in now if name in before and before[name] != now[name]]
        if changed:
            was = " ".join(_flag(name, before[name]) for name in changed)
            asked = " ".join(_flag(name, now[name]) for name in changed)
            raise InputError(f"--resume: the run in {out} was trained with {was}, not {asked}: resume it with "
                             "the same options (only --max_steps may grow), or start a new run into another --out")
    if not options.epochs and options.max_steps < state["step"]:
        raise InputError(f"--resume: the run in {out} is at step {state['step']}, beyond --max_steps "
                         f"{options.max_steps}: give --max_steps {state['step']} or more")


def _flag(name, value):
    return f"--{name} {value if value is not None else '(none)'}"


def resume_state(plan):
    return read_checkpoint(plan.out) if plan.resume else None
