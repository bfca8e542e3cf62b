"""syncnet-train: train or fine-tune SyncNet on your own face clips.

    syncnet-train data/work/pycrop --out runs/mine
    syncnet-train clips/ --out runs/tuned --init data/syncnet_v2.model --lr 1e-5 --max_steps 500
    syncnet-train --data_dir data/work --out runs/mine --resume
    torchrun --nproc_per_node 2 -m syncnet.train clips/ --out runs/ddp
    syncnet-train clips/ --out /shared/runs/ray --engine ray --num_workers 4 --use_gpu --ray_address auto

It writes DIR/syncnet_trained.model (the official file's format: pass it to any script's
--initial_model), DIR/metrics.csv, DIR/curves.png and DIR/train.json. Under torchrun the
processes wait at most $SYNCNET_RENDEZVOUS_TIMEOUT seconds (default 120) for each other. See
docs/training.md.
"""
import sys

from syncnet.runtime.logs import program
from syncnet.train.options import ENGINES, TrainOptions

from . import add_options, make_parser, options_from, run_command, stop_on_signals

COMMAND = "syncnet-train"


def build_parser(argv=None):
    parser = make_parser(COMMAND, "Train SyncNet (the official architecture and the paper's contrastive loss) "
                         "on 224x224 face clips with audio, or fine-tune a model in the official format.",
                         argv, module="syncnet.train")
    parser.add_argument("data", nargs="*", metavar="DATA",
                        help="folders of face clips (searched recursively: run_pipeline's pycrop/, a curation "
                             "output), list files of paths, or videos")
    parser.add_argument("--out", metavar="DIR", required=True,
                        help="the run folder: syncnet_trained.model, metrics.csv, curves.png, train.json, "
                             "checkpoints")
    parser.add_argument("--data_dir", default=None,
                        help="a run_pipeline data folder: train on the face crops of its runs (pycrop/)")
    parser.add_argument("--val", nargs="+", default=None, metavar="DATA",
                        help="validation clips, as DATA (default: a seeded share of the clips, by clip)")
    parser.add_argument("--init", default=None, metavar="MODEL",
                        help="fine-tune from this model (syncnet_v2.model or any file in its format); "
                             "default: from scratch")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    add_options(parser, TrainOptions)
    engine = parser.add_argument_group("engine")
    engine.add_argument("--engine", choices=ENGINES, default=ENGINES[0],
                        help="local: this process (or each of torchrun's); ray: Ray Train workers on a Ray "
                             "cluster (default local)")
    engine.add_argument("--num_workers", type=int, default=1,
                        help="--engine ray: training workers, each taking an equal share of every batch (default 1)")
    engine.add_argument("--use_gpu", action="store_true", help="--engine ray: one GPU per worker")
    engine.add_argument("--ray_address", default=None, metavar="ADDR",
                        help="--engine ray: the cluster (auto, HOST:PORT or ray://HOST:PORT; default: a Ray "
                             "runtime started on this machine for the run)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on failure (also SYNCNET_DEBUG=1)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar, and only warnings and errors in the log")
    return parser


def run(args):
    """Train, then the counts, the best validation and the model's path."""
    from syncnet.errors import InputError
    from syncnet.train.dispatch import train

    options = options_from(args, TrainOptions)
    if args.num_workers < 1:
        raise InputError(f"--num_workers {args.num_workers}: expected 1 or more")
    with stop_on_signals() as stop:  # training stops after its current step and keeps its checkpoint
        result = train(args.data, args.out, options, data_dir=args.data_dir, val=args.val, init=args.init,
                       resume=args.resume, device=args.device, stop=stop, quiet=args.quiet,
                       engine=args.engine, num_workers=args.num_workers, use_gpu=args.use_gpu,
                       ray_address=args.ray_address)
    if result is None:  # not rank 0 under torchrun
        return 0
    counts = result.counts
    print(f"Trained {result.steps} of {result.total_steps} steps on {counts['train_clips']} clips "
          f"({counts['train_windows']} windows; {counts['clips_skipped']} skipped) in {result.seconds:.0f} s")
    if result.best:
        print(f"Best validation (step {result.best['step']}): offset found {100 * result.best['val_exact']:.0f}% "
              f"exactly, {100 * result.best['val_within1']:.0f}% within 1 frame, LSE-C {result.best['lse_c']:.2f}")
    if result.interrupted:
        print(f"{program()}: interrupted at step {result.steps}; the checkpoint is kept: continue with "
              f"--resume --out {args.out}", file=sys.stderr)
        return 130
    print(f"Wrote {result.model}")
    return 0


def main(argv=None):
    return run_command(build_parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
