"""The training loop on two processes (torch.distributed, gloo on 127.0.0.1): after a step both
ranks hold the same weights, and they moved. Bounded in time; the group is always destroyed."""
import hashlib
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from syncnet.synthetic import make_face_clip

pytestmark = pytest.mark.slow


def _digest(state):
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].numpy().tobytes())
    return digest.hexdigest()


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
    from syncnet.train.loop import load_model, plain_state_dict, prepare
    from syncnet.train.options import TrainOptions

    for index in range(2):
        make_face_clip(tmp_path / "clips" / f"c{index}.avi", seconds=2.0, seed=600 + index)
    options = TrainOptions(max_steps=1, batch_size=4, val_share=0.0)
    plan = prepare([tmp_path / "clips"], str(tmp_path / "run"), options, device="cpu")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
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
