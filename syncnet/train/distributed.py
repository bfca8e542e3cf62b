"""torch.distributed for syncnet-train: this process's rank, the process group torchrun's
processes need, and the checks that every process trains the same model on its share."""
import contextlib
import os

from syncnet.errors import InputError
from syncnet.train.checkpoints import plain_state_dict


def process_ranks():
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

    _, world_size, _ = process_ranks()
    if world_size == 1 or dist.is_initialized():
        yield
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


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


def barrier():
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
