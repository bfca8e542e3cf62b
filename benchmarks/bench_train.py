#!/usr/bin/env python3
"""Time syncnet-train: training steps per second against the convolution-rate floor, and the
wall time a from-scratch run on the synthetic world takes to find offsets.

    python benchmarks/bench_train.py [--batches 8,16,32] [--steps 3] [--work DIR]
                                     [--converge] [--bce] [--from_run DIR ...]

Printed:
- samples/s of forward + backward + Adam step (both streams, 1 positive and --negatives audio
  windows per lip window) at each batch size, in a child process each (peak RSS is the child's);
  against the floor: 3x the forward FLOPs per sample (forward, and a backward of about twice the
  forward) at the best of the harness's fp32 matmul and convolution rates. Batches are random
  tensors: this is the network's cost, not the data loading's.
- with --converge: a from-scratch run on the synthetic world (docs/training.md's recipe) and
  the step and wall time at which validation first finds 90% of offsets within one frame;
  with --bce the same recipe with --loss bce, and where its loss sat. --from_run reads runs
  made before (their metrics.csv) instead of training.

Timings on a shared machine are noisy: the load average is printed with them.
"""
import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import loadavg, measure_conv, measure_matmul, run_child, syncnet_window_flops  # noqa: E402

STEP_CHILD_FLAG = "--_step-child"
RECIPE = {"max_steps": 60, "batch_size": 16, "lr": 5e-4, "max_negative_shift": 15, "val_items": 6, "val_every": 10}


def _step_child(batch, steps, negatives):
    """Time `steps` training steps at `batch` (after one untimed); print JSON."""
    import torch

    from syncnet.train.checkpoints import load_model
    from syncnet.train.loop import PairNetwork
    from syncnet.train.losses import contrastive_loss

    torch.manual_seed(0)
    model = load_model(None).train()
    network = PairNetwork(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    lips = torch.rand(batch, 3, 5, 224, 224) * 255
    audio = torch.randn(batch * (1 + negatives), 1, 13, 20)
    times = []
    for index in range(steps + 1):
        started = time.perf_counter()
        lip, sound = network(lips, audio)
        loss = contrastive_loss(lip, sound[:batch], sound[batch:], 10.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if index:
            times.append(time.perf_counter() - started)
    step_s = sorted(times)[len(times) // 2]
    print(json.dumps({"step_s": step_s, "samples_per_s": batch / step_s, "loadavg": loadavg()}))


def throughput(batches, steps, negatives, work):
    flops = syncnet_window_flops()
    per_sample = 3 * (flops["lip"] + (1 + negatives) * flops["audio"]) / 1e9
    rate = max(measure_matmul("cpu")["gflops"], measure_conv("cpu")["gflops"])
    rows = []
    for batch in batches:
        run = run_child([sys.executable, __file__, STEP_CHILD_FLAG, batch, steps, negatives],
                        Path(work) / f"step_{batch}", dict(os.environ))
        if run["rc"] != 0:
            raise SystemExit(f"the batch-{batch} child failed: see {run['stderr']}")
        measured = json.loads(Path(run["stdout"]).read_text().strip().splitlines()[-1])
        floor = rate / per_sample
        rows.append({"batch": batch, "step_s": measured["step_s"], "samples_per_s": measured["samples_per_s"],
                     "floor_samples_per_s": floor, "ratio": floor / measured["samples_per_s"],
                     "peak_rss_mb": run["peak_rss_mb"], "loadavg": measured["loadavg"]})
    return {"gflop_per_sample": per_sample, "rate_gflops": rate, "rows": rows}


def synthetic_run(work, loss):
    """A from-scratch run on the synthetic world (docs/training.md's recipe); its folder."""
    from syncnet.synthetic import make_face_clip
    from syncnet.train.dispatch import train
    from syncnet.train.options import TrainOptions

    root = Path(work) / "synthetic"
    for index in range(24):
        make_face_clip(root / "train" / f"c{index:02d}.avi", seconds=4.0, seed=1000 + index, mp3=index % 2 == 1)
    for index in range(3):
        make_face_clip(root / "val" / f"v{index}.avi", seconds=3.0, seed=2000 + index, mp3=index % 2 == 1)
    out = root / f"run_{loss}"
    train([root / "train"], out, TrainOptions(**RECIPE, loss=loss), val=[root / "val"], device="cpu")
    return out


def convergence(run):
    """From a run's metrics.csv: the first validation at >= 90% within one frame, and the loss."""
    with open(Path(run) / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    validated = [row for row in rows if row["val_within1"]]
    reached = next((row for row in validated if float(row["val_within1"]) >= 0.9), None)
    losses = [(int(row["step"]), float(row["loss"])) for row in rows if row["loss"]]
    return {"run": str(run), "reached": reached, "validations": validated, "losses": losses}


def format_throughput(result):
    lines = [f"floor: {result['gflop_per_sample']:.2f} GFLOP per sample (3x forward) at "
             f"{result['rate_gflops']:.0f} GFLOP/s (best of fp32 matmul and conv probes)",
             f"{'batch':>5} {'step s':>8} {'samples/s':>10} {'floor/s':>9} {'x floor':>8} {'peak RSS MB':>12} "
             f"{'load':>6}"]
    for row in result["rows"]:
        lines.append(f"{row['batch']:>5} {row['step_s']:>8.2f} {row['samples_per_s']:>10.2f} "
                     f"{row['floor_samples_per_s']:>9.2f} {row['ratio']:>8.1f} {row['peak_rss_mb']:>12.0f} "
                     f"{row['loadavg'][0] if row['loadavg'] else float('nan'):>6.1f}")
    return "\n".join(lines)


def format_convergence(result):
    lines = [f"run {result['run']}:"]
    for row in result["validations"]:
        lines.append(f"  step {int(row['step']):>5}  {float(row['seconds']):>7.0f} s"
                     f"  exact {float(row['val_exact']):.0%}"
                     f"  within 1 {float(row['val_within1']):.0%}  pos {float(row['pos_dist']):.2f}"
                     f"  neg {float(row['neg_dist']):.2f}  LSE-C {float(row['lse_c']):.2f}")
    reached = result["reached"]
    lines.append(f"  90% within 1 frame: step {reached['step']} after {float(reached['seconds']):.0f} s"
                 if reached else "  90% within 1 frame: not reached")
    losses = result["losses"]
    if losses:
        sample = losses[::max(1, len(losses) // 8)] + [losses[-1]]
        lines.append("  loss: " + ", ".join(f"{step}: {loss:.3f}" for step, loss in sample))
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == STEP_CHILD_FLAG:
        return _step_child(*map(int, argv[1:4]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="8,16,32")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per batch size (the median is shown)")
    parser.add_argument("--negatives", type=int, default=3)
    parser.add_argument("--work", default=None, help="folder for logs and runs (default: a temporary one)")
    parser.add_argument("--converge", action="store_true", help="train on the synthetic world and time it")
    parser.add_argument("--bce", action="store_true", help="with --converge: also the --loss bce run")
    parser.add_argument("--from_run", nargs="*", default=[], help="report these runs' metrics.csv instead")
    parser.add_argument("--skip_throughput", action="store_true")
    args = parser.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="bench-train-")
    if not args.skip_throughput:
        print(format_throughput(throughput([int(b) for b in args.batches.split(",")], args.steps, args.negatives,
                                           work)))
    runs = list(args.from_run)
    if args.converge:
        runs.append(synthetic_run(work, "contrastive"))
        if args.bce:
            runs.append(synthetic_run(work, "bce"))
    for run in runs:
        print(format_convergence(convergence(run)))
    print("2-process DDP vs 1 process: not measured here (tests/system/test_train_distributed.py runs torchrun "
          "for correctness, not speed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
