"""A training run's files: the models in the official file's format, the checkpoint --resume
continues from, metrics.csv and curves.png; written by rank 0 only."""
import csv
import io
import os

import torch

from syncnet.errors import InputError
from syncnet.io.fileio import atomic_path, save_text
from syncnet.models.loading import load_syncnet_weights
from syncnet.render.plots import plot_training

MODEL_FILE = "syncnet_trained.model"      # the best by validation: the official file's format
LAST_MODEL_FILE = "syncnet_last.model"    # the last step's weights, same format
CHECKPOINT_FILE = "checkpoint.pt"         # everything --resume needs
METRICS_FILE = "metrics.csv"
CURVES_FILE = "curves.png"
RECORD_FILE = "train.json"
METRIC_COLUMNS = ("step", "loss", "val_exact", "val_within1", "pos_dist", "neg_dist", "lse_c", "seconds")


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


def _save_torch(obj, path):
    with atomic_path(path) as temporary:
        torch.save(obj, temporary)


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


def resume_state(plan):
    path = os.path.join(plan.out, CHECKPOINT_FILE)
    if not plan.resume:
        return None
    try:
        return read_checkpoint(plan.out)
    except Exception as error:  # torch raises many types for damaged files
        raise InputError(f"--resume: {path} cannot be read ({str(error).splitlines()[0][:120]}): start a "
                         "new run into another --out") from None
