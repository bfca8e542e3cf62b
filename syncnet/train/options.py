"""syncnet-train's options: each with its one default, its help text and its valid range.

What comes from the paper (Chung & Zisserman 2016) and what is this project's choice is said in
docs/training.md; in short: the contrastive loss on the Euclidean distance, 5-frame / 0.2 s
windows and negatives made by shifting the audio are the paper's; the margin, the number of
negatives per positive, the share of negatives from other clips, Adam and its rate are ours.
"""
from dataclasses import dataclass

from syncnet.options import Validated, choice, option

LOSSES = ("contrastive", "bce")
ENGINES = ("local", "ray")  # local: this process, or each of torchrun's; ray: Ray Train workers
BATCHNORM_MODES = ("auto", "train", "frozen")
PRECISIONS = ("fp32", "bf16")
SWITCH = ("off", "on")


@dataclass(frozen=True)
class TrainOptions(Validated):
    """How syncnet-train trains: steps, batches, loss, negatives, augmentation and validation."""
    max_steps: int = option(2000, "training steps (one step = one batch of lip windows)", minimum=1,
                            kind=int)
    epochs: float = option(0.0, "train for this many passes over the training windows instead of "
                                "--max_steps (0: use --max_steps)", minimum=0)
    batch_size: int = option(16, "lip windows per step (split across processes under torchrun)", minimum=1,
                             maximum=4096, kind=int)
    lr: float = option(3e-4, "Adam's learning rate", above=0, maximum=1)
    seed: int = option(0, "seeds the split, the batches, the negatives, the augmentation and the initial "
                          "weights", minimum=0, kind=int)
    workers: int = option(0, "processes that build batches beside training (0: in the training process)",
                          minimum=0, maximum=64, kind=int)
    loss: str = choice("contrastive", "contrastive: the paper's, on the Euclidean distance the scorer uses; "
                       "bce: Wav2Lip's binary cross-entropy on the cosine of ReLU'd embeddings", LOSSES)
    margin: float = option(10.0, "the contrastive loss's margin: negatives are pushed at least this far apart",
                           above=0)
    negatives: int = option(3, "negative audio windows per lip window (each positive has as many)", minimum=1,
                            maximum=64, kind=int)
    other_clip_share: float = option(0.25, "share of the negatives taken from another clip (the rest are the "
                                           "same clip's audio shifted)", minimum=0, maximum=1)
    min_negative_shift: int = option(3, "a same-clip negative is shifted by more than this many frames",
                                     minimum=1, maximum=1000, kind=int)
    max_negative_shift: int = option(50, "... and by at most this many (50 frames = 2 s, the paper's range)",
                                     minimum=2, maximum=10000, kind=int)
    crop_shift: int = option(6, "augmentation: random shift of the face by up to this many pixels", minimum=0,
                             maximum=56, kind=int)
    brightness: float = option(0.15, "augmentation: random brightness change of up to this share", minimum=0,
                               below=1)
    mp3_share: float = option(0.0, "augmentation: share of samples whose audio went through an MP3 round trip, "
                                   "as run_pipeline's crops have (data from pycrop/ has it already)",
                              minimum=0, maximum=1)
    batchnorm: str = choice("auto", "BatchNorm statistics: train (update them), frozen (keep the initial "
                            "model's), auto (frozen with --init, trained from scratch)", BATCHNORM_MODES)
    val_share: float = option(0.1, "share of the clips held out for validation when --val is not given",
                              minimum=0, below=1)
    val_items: int = option(8, "validation videos: held-out clips with known shifts, cycling over the clips",
                            minimum=1, maximum=10000, kind=int)
    val_max_shift: int = option(10, "validation shifts are drawn from -this..+this frames", minimum=0,
                                maximum=14, kind=int)
    val_every: int = option(200, "validate (and write a checkpoint) every this many steps, and at the end",
                            minimum=1, kind=int)
    log_every: int = option(10, "a metrics.csv row with the mean training loss every this many steps",
                            minimum=1, kind=int)
    precision: str = choice("fp32", "fp32, or bf16: the forward pass under bfloat16 autocast (CUDA only; the "
                            "weights and the optimiser stay fp32)", PRECISIONS)
    cudnn_benchmark: str = choice("off", "on: let cuDNN time its convolution algorithms for the fixed input "
                                  "size (CUDA only; faster after the first steps, not bit-reproducible)", SWITCH)
