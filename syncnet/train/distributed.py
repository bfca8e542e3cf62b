"""torch.distributed for syncnet-train: this process's rank, the process group torchrun's
processes need, and the checks that every process trains the same model on its share."""
import contextlib
import datetime
import logging
import os
import threading

from syncnet.errors import InputError, one_line
from syncnet.train.checkpoints import plain_state_dict

log = logging.getLogger(__name__)

# How long the processes of a torchrun wait for each other to meet before the run is refused
# (torch's own default is 30 minutes, which looks like a hang when one process never comes).
RENDEZVOUS_TIMEOUT_ENV = "SYNCNET_RENDEZVOUS_TIMEOUT"
RENDEZVOUS_TIMEOUT_S = 120.0
# Once met, collectives may wait this long: rank 0 decodes every clip while the others wait.
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=30)


def _env_int(name, default, minimum):
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{name}={text!r} is not a whole number: set it as torchrun does, or unset it for "
                         "a single process") from None
    if value < minimum:
        raise InputError(f"{name}={value} is below {minimum}: set it as torchrun does, or unset it for a single "
                         "process")
    return value


def process_ranks():
    """(rank, world size, local rank) of this process: torch.distributed's, or torchrun's
    environment (RANK, WORLD_SIZE, LOCAL_RANK), checked: a bad one is refused in one line."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    rank, world_size = _env_int("RANK", 0, 0), _env_int("WORLD_SIZE", 1, 1)
    if rank >= world_size:
        raise InputError(f"RANK={rank} is not below WORLD_SIZE={world_size}: ranks run from 0 to WORLD_SIZE - 1 "
                         "(let torchrun set them)")
    return rank, world_size, _env_int("LOCAL_RANK", 0, 0)


def rendezvous_timeout():
    """Seconds the processes wait for each other: $SYNCNET_RENDEZVOUS_TIMEOUT, else 120."""
    text = os.environ.get(RENDEZVOUS_TIMEOUT_ENV, "").strip()
    if not text:
        return RENDEZVOUS_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise InputError(f"{RENDEZVOUS_TIMEOUT_ENV}={text!r}: expected a number of seconds above 0")
    return seconds


def rendezvous_address():
    """(MASTER_ADDR, MASTER_PORT), checked: both must be set for more than one process."""
    address, port = os.environ.get("MASTER_ADDR", "").strip(), os.environ.get("MASTER_PORT", "").strip()
    if not address or not port:
        raise InputError("WORLD_SIZE is above 1 but MASTER_ADDR and MASTER_PORT are not both set: start the "
                         "processes with torchrun, which sets them")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise InputError(f"MASTER_PORT={port!r}: expected a port number from 1 to 65535")
    return address, number


def check_environment():
    """Refuse, before anything is written or waited for, a torchrun environment that cannot
    make a process group. Returns (rank, world size, local rank)."""
    ranks = process_ranks()
    rendezvous_timeout()
    if ranks[1] > 1:
        rendezvous_address()
    return ranks


def _meet(rank, world_size, stop):
    """The store every process meets at (MASTER_ADDR:MASTER_PORT), within the rendezvous
    timeout. The wait runs beside this thread, so `stop` (set by SIGINT or SIGTERM) ends it."""
    import torch.distributed as dist

    address, port = rendezvous_address()
    seconds = rendezvous_timeout()
    # Under torchrun's agent its own store serves every rank; otherwise rank 0 serves it, as
    # torch's env:// rendezvous does.
    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == str(True)
    outcome = {}

    def connect():
        try:
            outcome["store"] = dist.TCPStore(address, port, world_size, is_master=rank == 0 and not agent_store,
                                             timeout=datetime.timedelta(seconds=seconds),
                                             multi_tenant=not agent_store)
        except Exception as error:  # torch raises its own network and store errors
            outcome["error"] = error

    log.info("rank %d of %d: waiting up to %g s for the other processes at %s:%d", rank, world_size, seconds,
             address, port)
    waiting = threading.Thread(target=connect, daemon=True)  # abandoned if a signal ends the wait
    waiting.start()
    while waiting.is_alive():
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        waiting.join(timeout=0.2)
    if "error" in outcome:
        raise InputError(f"rank {rank} of {world_size}: the processes did not meet at {address}:{port} within "
                         f"{seconds:g} s ({one_line(outcome['error'], 200)}): start every process (torchrun does), "
                         f"check MASTER_ADDR and MASTER_PORT, or raise {RENDEZVOUS_TIMEOUT_ENV}") from None
    store = outcome["store"]
    store.set_timeout(COLLECTIVE_TIMEOUT)
    return store


@contextlib.contextmanager
def process_group(device, stop=None):
    """torch.distributed set up for torchrun's processes (gloo on CPU, NCCL on CUDA) when it is
    not already; a single process needs none. The processes wait at most the rendezvous
    timeout for each other, and `stop` set ends the wait."""
    import torch.distributed as dist

    rank, world_size, _ = process_ranks()
    if world_size == 1 or dist.is_initialized():
        yield
        return
    store = _meet(rank, world_size, stop)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", store=store, rank=rank,
                            world_size=world_size, timeout=COLLECTIVE_TIMEOUT)
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
