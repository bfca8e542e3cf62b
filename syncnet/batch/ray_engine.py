"""The Ray engine: a batch's videos on a Ray cluster, or on a private Ray runtime on this machine.

Ray Core, not Ray Data: each task is a whole video (seconds to minutes), every video must end
as exactly one record (ok, or failed with its reason), and a worker that dies must cost a
counted retry, not a silent rerun or a lost video. So the driver runs its own bounded pool:

- N worker actors (`--workers`, each with `--ray_num_cpus` CPUs and `--ray_num_gpus` GPUs,
  spread over the nodes) load SyncNet and the face detector once and process whole videos through
  syncnet.batch.worker.process_video, building each video's folders on their own disk.
- At most one video per actor is in flight, and inputs are taken from an iterator as actors
  free up: 100,000 inputs take constant driver memory.
- Actors have max_restarts=0 and max_task_retries=0, so Ray never reruns anything behind the
  driver's back. When one dies (killed, out of memory, node lost), the driver starts a
  replacement and retries its video, up to max_retries, then records it failed.
"""
import collections
import logging
import os
import threading
import time

from syncnet.batch.worker import failure_record, process_video, release_scratch, scorer_for, worker_scratch
from syncnet.errors import SyncNetError, one_line
from syncnet.io import storage
from syncnet.runtime.ray_cluster import connect, import_ray

log = logging.getLogger("syncnet.batch")

# A worker that is not ready after this long means the cluster cannot place it (resources).
READY_TIMEOUT = 300.0
CLOSE_TIMEOUT = 30.0  # for the idle workers to delete their scratch folders at the end


class VideoWorker:
    """One Ray actor: the networks loaded once, then whole videos, one at a time."""

    def __init__(self, config):
        import dataclasses

        import torch

        from syncnet.runtime.logs import setup_logging

        setup_logging("syncnet worker", config.quiet, config.debug)
        worker_scratch(config)  # made now, which clears the folders of dead workers on this node
        torch.set_num_threads(max(1, int(config.ray.num_cpus)))
        models = config.models
        fetched = {}
        for field in models.FILES:
            path = getattr(models, field)
            if path is not None and storage.is_uri(path):
                fetched[field] = storage.download(path, os.path.join(worker_scratch(config), "models",
                                                                     os.path.basename(path)))
        self.config = dataclasses.replace(config, models=dataclasses.replace(models, **fetched))
        scorer_for(self.config.models).load(detector=not config.whole_frames)
        self.node = import_ray().get_runtime_context().get_node_id()

    def ready(self):
        return {"node": self.node, "pid": os.getpid()}

    def close(self):
        """Delete this worker's scratch folder: the pool ends it next."""
        release_scratch()

    def process(self, key, attempt):
        record = process_video(self.config, key, attempt)
        if record.get("worker"):
            record["worker"]["node"] = self.node
        return record


def pool_size(config):
    """--workers, else as many actors as the cluster's CPUs (or GPUs) can hold at once."""
    if config.workers:
        return config.workers
    resources = import_ray().cluster_resources()
    if config.ray.num_gpus > 0:
        return max(1, int(resources.get("GPU", 0) // config.ray.num_gpus))
    return max(1, int(resources.get("CPU", 1) // max(config.ray.num_cpus, 1e-6)))


def run_ray(config, keys, stop=None):
    """Yield the record of each video as it finishes on the cluster's workers."""
    started = connect(config.ray, config.quiet)
    ray = import_ray()
    try:
        pool = _Pool(ray, config, pool_size(config))
        yield from pool.run(keys, stop or threading.Event())
    finally:
        if started and ray.is_initialized():
            ray.shutdown()


class _Pool:
    def __init__(self, ray, config, size):
        self.ray = ray
        self.config = config
        self.size = size
        self.actor_class = ray.remote(VideoWorker).options(
            num_cpus=config.ray.num_cpus, num_gpus=config.ray.num_gpus, max_restarts=0, max_task_retries=0,
            scheduling_strategy="SPREAD")
        self.actors = [None] * size
        self.waiting = {}            # object ref -> ("ready" | "video", slot, key)
        self.busy = {}               # slot -> key of its video
        self.idle = collections.deque()
        self.retries = collections.deque()
        self.attempts = collections.Counter()
        self.last_ready = time.monotonic()
        log.info("Ray engine: %d worker(s) of %g CPU, %g GPU", size, config.ray.num_cpus, config.ray.num_gpus)

    def _spawn(self, slot):
        actor = self.actor_class.remote(self.config)
        self.actors[slot] = actor
        self.waiting[actor.ready.remote()] = ("ready", slot, None)

    def _feed(self, todo, stop):
        while self.idle and not stop.is_set():
            key = self.retries.popleft() if self.retries else next(todo, None)
            if key is None:
                return False
            slot = self.idle.popleft()
            self.attempts[key] += 1
            self.busy[slot] = key
            self.waiting[self.actors[slot].process.remote(key, self.attempts[key])] = ("video", slot, key)
        return True

    def run(self, keys, stop):
        ray_errors = import_ray("ray.exceptions")
        RayActorError, RayError, RayTaskError = ray_errors.RayActorError, ray_errors.RayError, ray_errors.RayTaskError

        todo = iter(keys)
        more = True
        for slot in range(self.size):
            self._spawn(slot)
        try:
            while not stop.is_set():
                more = self._feed(todo, stop) and more
                if not more and not self.retries and not self.busy:
                    return
                ready, rest = self.ray.wait(list(self.waiting), num_returns=1, timeout=0.5)
                if ready and rest:
                    ready += self.ray.wait(rest, num_returns=len(rest), timeout=0)[0]
                finished = []
                for ref in ready:
                    kind, slot, key = self.waiting.pop(ref)
                    try:
                        value = self.ray.get(ref)
                    except RayTaskError as error:  # process_video itself raised: a model file fails every video
                        raise SyncNetError(f"a worker failed: {_cause(error)}") from None
                    except RayActorError as error:
                        if kind == "ready":
                            raise SyncNetError(f"a Ray worker could not start ({_cause(error)}); is this package "
                                               "and its dependencies installed on every node?") from None
                        self._lost(slot, key, finished)
                        continue
                    except RayError as error:
                        raise SyncNetError(f"Ray failed: {_cause(error)}") from None
                    if kind == "ready":
                        self.idle.append(slot)
                        self.last_ready = time.monotonic()
                    else:
                        del self.busy[slot]
                        self.idle.append(slot)
                        finished.append(value)
                self._feed(todo, stop)
                yield from finished
                self._check_placement()
        finally:
            self._stop()

    def _lost(self, slot, key, finished):
        """The actor in `slot` died with `key`: replace it, and retry the video or give it up."""
        del self.busy[slot]
        self._spawn(slot)
        if self.attempts[key] > self.config.max_retries:
            finished.append(failure_record(self.config, key, f"its worker died {self.attempts[key]} time(s) while "
                                                             "processing it (killed, out of memory, or node lost)",
                                           self.attempts[key]))
        else:
            log.warning("%s: its worker died; retrying it (attempt %d)", key[0], self.attempts[key] + 1)
            self.retries.append(key)

    def _check_placement(self):
        """No worker ready for a long time, and none busy: the cluster cannot place them."""
        if self.idle or self.busy or time.monotonic() - self.last_ready < READY_TIMEOUT:
            return
        raise SyncNetError(f"no Ray worker could start in {READY_TIMEOUT:.0f} s: each needs "
                           f"{self.config.ray.num_cpus:g} CPU and {self.config.ray.num_gpus:g} GPU, and the cluster "
                           f"has {self.ray.cluster_resources()}")

    def _stop(self):
        """Kill every actor: a video still in flight publishes nothing and is not recorded. An idle
        actor deletes its scratch folder first (a busy one's is left to the next worker there)."""
        if not self.ray.is_initialized():  # any Ray call now would start a new runtime
            return
        closing = [self.actors[slot].close.remote() for slot in self.idle if self.actors[slot] is not None]
        try:
            if closing:
                self.ray.wait(closing, num_returns=len(closing), timeout=CLOSE_TIMEOUT)
        except Exception:  # a dead actor's scratch is cleared by the next worker on its node
            pass
        for actor in self.actors:
            if actor is not None:
                try:
                    self.ray.kill(actor, no_restart=True)
                except Exception:  # already dead
                    pass


def _cause(error):
    return one_line(getattr(error, "cause", None) or error, 300)
