"""``physopt solve --nproc N``: start N ranks through torch.distributed's launcher, and what each rank does at start and on failure.

The parent process runs ``torch.distributed.launcher.elastic_launch`` (what ``torchrun
--standalone`` runs) on ``python -m physopt`` with the same arguments; each child sees
``RANK``/``WORLD_SIZE`` and joins the process group (:func:`physopt.distributed.initialize`).
A rank that fails writes its error to torchelastic's error file; the launcher stops the
others (SIGTERM, which a rank turns into Ctrl-C, so rank 0 keeps a resumable checkpoint)
and prints one line naming the first rank that failed and its error.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid

import torch

from .. import distributed
from .._devices import check_device
from .._errors import ConfigurationError

__all__ = ["launch", "start_rank", "record_rank_error", "LAUNCHED"]

#: set by :func:`launch` for its children: the launcher reports their errors, so they print none
LAUNCHED = "PHYSOPT_LAUNCHED"


def launch(argv: list[str], nproc: int, device: str) -> int:
    """Run ``python -m physopt ARGV`` on ``nproc`` local ranks (one per GPU for ``cuda``); return the exit code."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nproc < 1:
        raise ConfigurationError(f"--nproc must be at least 1, got {nproc}")
    check_device(device)
    if torch.device(device).type == "cuda":
        if torch.device(device).index is not None:
            raise ConfigurationError(f"--nproc puts one rank on each GPU: use --device cuda, not {device}")
        if nproc > torch.cuda.device_count():
            raise ConfigurationError(f"--nproc {nproc} needs {nproc} GPUs (one per rank); this machine has "
                                     f"{torch.cuda.device_count()}")
    elif "OMP_NUM_THREADS" not in os.environ:  # the cores shared among the ranks, as torchrun does
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    os.environ[LAUNCHED] = "1"
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # the failure is reported below, once
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.1)
    try:
        elastic_launch(config, sys.executable)("-m", "physopt", *argv)
    except ChildFailedError as exc:
        rank, failure, code = _first_failure(exc)
        if code == 130:  # interrupted: rank 0 says where the checkpoint is
            print(f"physopt: {failure}", file=sys.stderr)
        else:
            print(f"physopt: error: rank {rank} of {nproc} failed: {failure}", file=sys.stderr)
        return code
    except (KeyboardInterrupt, SignalException):
        print("physopt: interrupted", file=sys.stderr)
        return 130
    return 0


def _first_failure(exc) -> tuple[int, str, int]:
    """``(rank, message, exit code)`` of the rank whose own error ended the run (its error file, earliest first);
    ranks stopped by the launcher afterwards wrote none."""
    recorded = {rank: f for rank, f in exc.failures.items() if os.path.isfile(f.error_file or "")}
    stopped = (130, -signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL)  # by Ctrl-C or by the launcher
    failed = {r: f for r, f in exc.failures.items() if f.exitcode not in stopped}
    if not failed:  # every rank stopped on an interrupt (or was stopped by the launcher): rank 0 says where to resume
        rank, code = min(exc.failures), 130
    else:
        pool = {r: f for r, f in failed.items() if r in recorded} or failed
        rank = min(pool, key=lambda r: (pool[r].timestamp, r))
        code = failed[rank].exitcode if failed[rank].exitcode in (2, 3) else 1
    failure = exc.failures[rank]
    message = failure.message if rank in recorded else (
        f"killed by signal {-failure.exitcode}" if failure.exitcode < 0 else f"exited with code {failure.exitcode}")
    if isinstance(message, dict):
        message = message.get("message", message)
    line = str(message).strip().splitlines()[0] if str(message).strip() else "failed"
    return rank, line.removeprefix("error: "), code


def start_rank(device: str) -> distributed.Ranks:
    """In a process a launcher started (torchrun, ``--nproc``, srun): join the process group, and let Ctrl-C and
    SIGTERM stop all ranks after the step under way (rank 0 checkpoints it). One process: nothing to do."""
    if distributed.environment() is None:
        return distributed.SINGLE
    ranks = distributed.initialize(device)
    distributed.defer_interrupts()
    return ranks


def record_rank_error(exc: BaseException, message: str) -> bool:
    """In a rank: write ``message`` to torchelastic's error file (what the launcher reports). Returns whether the
    rank should also print it (it should unless ``physopt solve --nproc`` launched it, which prints it once)."""
    if distributed.environment() is None:
        return True
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if path and not _secondary(exc):
        import json
        import time
        import traceback

        with open(path, "w", encoding="utf-8") as f:
            json.dump({"message": {"message": message, "extraInfo": {
                "py_callstack": "".join(traceback.format_exception(exc)),
                "timestamp": str(int(time.time()))}}}, f)
    return os.environ.get(LAUNCHED) != "1"


def _secondary(exc: BaseException) -> bool:
    """A rank stopped by the launcher (SIGTERM), or cut off by a failed peer: not the cause of the failure."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    lost_peer = ("Connection closed by peer", "Connection reset by peer", "Broken pipe")
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in lost_peer)
