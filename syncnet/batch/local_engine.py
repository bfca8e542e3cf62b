"""The local engine: a batch's videos in this process, or in N spawned worker processes.

Workers share the CPU cores (torch threads = cores / workers), and at most two videos per
worker are queued at a time, so 100,000 inputs cost the driver no more memory than a few.
A worker that dies (killed, out of memory) breaks the process pool: the pool is restarted
and every video that was running in it is retried, up to max_retries, then recorded failed.
Workers die with the batch, however it ends, and never outlive it.
"""
import collections
import concurrent.futures
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool

from syncnet.batch.worker import failure_record, process_video, release_scratch, remove_video_folders
from syncnet.io.layout import reference_for
from syncnet.runtime.logs import program

# Stopping kills the workers, which leaves their queues' semaphores to multiprocessing's
# resource tracker; its warning about that, printed after our last line, is only noise.
_TRACKER_NOISE = "ignore::UserWarning:multiprocessing.resource_tracker"


def run_local(config, keys, stop=None):
    """Yield the record of each video as it finishes.

    Once `stop` (a threading.Event) is set, nothing new starts: the videos that finished are
    still yielded, the workers are stopped, and the folders of the videos that did not
    finish are removed.
    """
    stop = stop or threading.Event()
    if config.workers == 1:
        try:
            yield from _in_this_process(config, keys, stop)
        finally:
            release_scratch()
    else:
        yield from _in_worker_processes(config, keys, stop)


def _in_this_process(config, keys, stop):
    for key in keys:
        if stop.is_set():
            return
        try:
            record = process_video(config, key)
        except BaseException:  # interrupted, or a model file that fails every video
            remove_video_folders(config.data_dir, reference_for(key[0]))
            raise
        yield record


def _new_pool(config):
    threads = max(1, (os.cpu_count() or 1) // config.workers)
    if _TRACKER_NOISE not in sys.warnoptions:
        sys.warnoptions.append(_TRACKER_NOISE)
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=config.workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker, initargs=(threads, config.quiet, config.debug, os.getpid(), program()))


def _in_worker_processes(config, keys, stop):
    pool = _new_pool(config)
    pending = {}
    todo = iter(keys)
    retries = collections.deque()
    attempts = collections.Counter()

    def fill():
        while not stop.is_set() and len(pending) < 2 * config.workers:
            key = retries.popleft() if retries else next(todo, None)
            if key is None:
                return
            attempts[key] += 1
            pending[pool.submit(process_video, config, key, attempts[key])] = key

    try:
        fill()
        while pending and not stop.is_set():
            done, _ = concurrent.futures.wait(pending, timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED)
            broken = False
            for future in done:
                if isinstance(future.exception(), BrokenProcessPool):
                    broken = True
                    continue
                del pending[future]
                yield future.result()
            if broken:  # a worker died: every video still in the pool is lost with it
                lost = list(pending.values())
                pending.clear()
                _stop_workers(pool)
                pool.shutdown(wait=True, cancel_futures=True)
                for key in lost:
                    remove_video_folders(config.data_dir, reference_for(key[0]))
                    if attempts[key] > config.max_retries:
                        yield failure_record(config, key, f"its worker died {attempts[key]} time(s) while "
                                                          "processing it (killed, or out of memory)", attempts[key])
                    else:
                        retries.append(key)
                pool = _new_pool(config)
            fill()
        for future in [future for future in pending if future.done() and future.exception() is None]:
            del pending[future]  # finished while stopping: still recorded
            yield future.result()
    except BaseException:
        _stop_workers(pool)
        raise
    finally:
        if pending:
            _stop_workers(pool)
            for key in pending.values():
                remove_video_folders(config.data_dir, reference_for(key[0]))
        pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(threads, quiet, debug, parent, prog):
    import atexit
    import signal

    import torch

    from syncnet.runtime.logs import setup_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the batch decides
    _die_with(parent)
    torch.set_num_threads(threads)
    setup_logging(prog, quiet, debug)
    atexit.register(release_scratch)  # a worker the pool ends normally leaves no scratch behind


def _die_with(parent):
    """End this worker, and the ffmpeg it runs, when the batch that started it ends, however it
    ends (even SIGKILL).

    The worker leads a process group of its own, which its ffmpeg processes join; the kernel's
    parent-death signal (SIGTERM) makes it kill that group, and a watcher thread does the same
    where there is no such signal. The batch stops a worker the same way: SIGKILL to its group.
    """
    import ctypes
    import signal

    def end_group(*_):
        os.killpg(0, signal.SIGKILL)

    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, end_group)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the batch died before the signal was armed
        end_group()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        end_group()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _stop_workers(pool):
    """Kill the pool's workers and their ffmpeg now (each leads its own process group, see
    _die_with): an interrupted batch does not wait for their videos."""
    import signal

    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
    for process in processes:
        process.join(timeout=10)
