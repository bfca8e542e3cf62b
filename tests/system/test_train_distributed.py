"""The training loop on two processes (torch.distributed, gloo on 127.0.0.1): after a step both
ranks hold the same parameters, and they moved. Bounded in time; the group is always destroyed."""
import hashlib
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from syncnet.synthetic import make_face_clip

pytestmark = pytest.mark.slow


BATCHNORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _digest(state):
    """A hash of the parameters (not BatchNorm's running statistics: each rank updates those from
    its own share of the batch, and rank 0's are the ones saved)."""
    digest = hashlib.sha256()
    for name in sorted(name for name in state if not name.endswith(BATCHNORM_BUFFERS)):
        digest.update(name.encode())
        digest.update(state[name].numpy().tobytes())
    return digest.hexdigest()


def _free_port():
    """A port on 127.0.0.1 that was free a moment ago, for the process group's rendezvous."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rank(rank, port, plan, results):
    import torch.distributed as dist

    from syncnet.train.loop import train_worker

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        result = train_worker(plan)
        results.put((rank, _digest(result.state)))
    finally:
        dist.destroy_process_group()


def test_two_ranks_hold_identical_weights_after_a_step(tmp_path):
    from syncnet.train.checkpoints import load_model, plain_state_dict
    from syncnet.train.loop import prepare
    from syncnet.train.options import TrainOptions

    for index in range(2):
        make_face_clip(tmp_path / "clips" / f"c{index}.avi", seconds=2.0, seed=600 + index)
    options = TrainOptions(max_steps=1, batch_size=4, val_share=0.0)
    plan = prepare([tmp_path / "clips"], str(tmp_path / "run"), options, device="cpu")
    port = _free_port()
    context = mp.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=_rank, args=(rank, port, plan, results)) for rank in (0, 1)]
    for process in processes:
        process.start()
    try:
        digests = dict(results.get(timeout=300) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
                process.join()
    torch.manual_seed(options.seed)
    initial = _digest(plain_state_dict(load_model(None)))
    assert digests[0] == digests[1] != initial


# A short fine-tuning of the trained test model, run in one process and on two.
FINE_TUNING = dict(max_steps=4, batch_size=8, lr=1e-5, val_items=6, val_every=4)


def _fine_tuned_in_this_process(trained_syncnet, tmp_path):
    """(train folder, val folder, the one-process TrainResult) of FINE_TUNING on fresh clips."""
    from syncnet.train.dispatch import train
    from syncnet.train.options import TrainOptions
    from tests.helpers import make_synthetic_training_set

    train_dir, val_dir = make_synthetic_training_set(tmp_path / "data", clips=4, seconds=3.0, val=2)
    alone = train([train_dir], tmp_path / "alone", TrainOptions(**FINE_TUNING), val=[val_dir],
                  init=str(trained_syncnet), device="cpu")
    return train_dir, val_dir, alone


def test_ray_train_on_two_nodes_keeps_replicas_identical_and_matches_one_process(trained_syncnet, cluster,
                                                                                 tmp_path):
    """The same fine-tuning, in this process and as two Ray Train workers on a two-node cluster
    (127.0.0.1): the workers' weights agree after training, they moved from the start, and both
    runs find the same share of the held-out offsets."""
    import json

    from syncnet.train.dispatch import train
    from syncnet.train.options import TrainOptions

    ray_cluster, _, _ = cluster
    train_dir, val_dir, alone = _fine_tuned_in_this_process(trained_syncnet, tmp_path)
    on_ray = train([train_dir], tmp_path / "ray", TrainOptions(**FINE_TUNING), engine="ray", num_workers=2,
                   ray_address=ray_cluster.address, val=[val_dir], init=str(trained_syncnet), device="cpu")
    record = json.loads((tmp_path / "ray" / "train.json").read_text())
    assert record["world_size"] == 2 and on_ray.steps == 4
    first, second = record["replica_digests"]
    assert first == second
    assert _digest(torch.load(on_ray.model, weights_only=True)) != _digest(torch.load(trained_syncnet,
                                                                                       weights_only=True))
    assert abs(on_ray.metrics["val_within1"] - alone.metrics["val_within1"]) <= 1 / 6


def test_torchrun_two_processes_keep_replicas_identical_and_match_one_process(trained_syncnet, tmp_path):
    """`torchrun --nproc_per_node 2 -m syncnet.train`, as the docs give it (gloo on 127.0.0.1):
    the same fine-tuning as in this process; rank 0 alone writes, the replicas' weights agree,
    and both runs find the same share of the held-out offsets."""
    import json
    import subprocess
    import sys

    from syncnet.train.checkpoints import MODEL_FILE
    from tests.helpers import REPO_ROOT

    train_dir, val_dir, alone = _fine_tuned_in_this_process(trained_syncnet, tmp_path)
    port = _free_port()
    flags = [f"--{name}={value}" for name, value in FINE_TUNING.items()]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(port), "-m", "syncnet.train", str(train_dir), "--out", str(tmp_path / "ddp"),
               "--val", str(val_dir), "--init", str(trained_syncnet), "--device", "cpu", "--quiet", *flags]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "ddp" / "train.json").read_text())
    assert record["world_size"] == 2 and record["steps"] == 4
    first, second = record["replica_digests"]
    assert first == second
    assert _digest(torch.load(tmp_path / "ddp" / MODEL_FILE, weights_only=True)) != _digest(
        torch.load(trained_syncnet, weights_only=True))
    assert abs(record["final_metrics"]["val_within1"] - alone.metrics["val_within1"]) <= 1 / 6
