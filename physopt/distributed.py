r"""Data-parallel runs on ``torch.distributed``: the ranks of a run and the sums over them.

A run on :math:`W` processes (ranks) splits its samples — collocation points,
operator draws — into :math:`W` shards. The loss is a sum over samples, so
every quantity the optimizers need is a sum of the ranks' parts,

.. math::
    L = \sum_k L_k,\qquad \nabla L = \sum_k \nabla L_k,\qquad
    J^\top J = \sum_k J_k^\top J_k,\qquad J^\top r = \sum_k J_k^\top r_k ,

one ``all_reduce`` each, after which every rank holds the same numbers and
takes the same step as one process with all samples. Parameters are never
wrapped in DDP (its hooks miss gradients taken through ``torch.func``); the
solvers call :meth:`Ranks.sum` where a sum over samples crosses the shards.

The processes come from ``torchrun`` (``physopt solve --nproc N`` starts it),
or from SLURM's ``srun``: :func:`initialize` reads their environment variables
(``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT``, or
``SLURM_PROCID``/``SLURM_STEP_NUM_TASKS``/``SLURM_LOCALID``) and joins the
process group: gloo for CPU tensors, NCCL for CUDA ones (one GPU per rank).
"""

from __future__ import annotations

import datetime
import os
import time

import torch
import torch.distributed as dist

from ._errors import ConfigurationError

__all__ = ["Ranks", "current", "initialize", "finish", "exit_rank", "environment", "rank_device", "shard_bounds", "defer_interrupts",
           "interrupt_requested", "SINGLE"]


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of ``n`` that rank ``rank`` of ``world_size`` holds: contiguous blocks, sizes differing by at most one."""
    return rank * n // world_size, (rank + 1) * n // world_size


class Ranks:
    """The processes of a run; with one process every operation is the identity.

    ``stats`` counts the communication of this process: calls, seconds (waiting included)
    and bytes sent into reductions, for the benchmarks.
    """

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0, joined: bool = False):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.joined = joined  # in a process group (of one process, too: ``--nproc 1`` runs every reduction)
        self.device = "cpu"  # where the backend reduces: cuda:LOCAL_RANK for NCCL, the CPU for gloo
        self.stats = {"calls": 0, "seconds": 0.0, "bytes": 0}

    def __repr__(self) -> str:
        return f"Ranks(rank={self.rank}, world_size={self.world_size})"

    @property
    def active(self) -> bool:
        """True when the reductions run: in a process group, even of one process."""
        return self.joined or self.world_size > 1

    @property
    def sharded(self) -> bool:
        """True when the samples are split over more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This rank's rows of ``n`` samples (:func:`shard_bounds`)."""
        return slice(*shard_bounds(n, self.rank, self.world_size))

    def _timed(self, fn, *tensors):
        start = time.perf_counter()
        fn()
        self.stats["calls"] += 1
        self.stats["seconds"] += time.perf_counter() - start
        self.stats["bytes"] += sum(t.numel() * t.element_size() for t in tensors)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over the ranks (a new tensor; ``tensor`` is left as it is)."""
        if not self.active:
            return tensor
        out = tensor.detach().clone().contiguous()
        self._timed(lambda: dist.all_reduce(out), out)
        return out

    def sum_all(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each tensor summed over the ranks, in one ``all_reduce`` of their concatenation."""
        if not self.active or not tensors:
            return list(tensors)
        flat = self.sum(torch.cat([t.detach().reshape(-1) for t in tensors]))
        out, start = [], 0
        for t in tensors:
            out.append(flat[start:start + t.numel()].view_as(t))
            start += t.numel()
        return out

    def sum_gradients(self, parameters) -> None:
        """Replace each parameter's ``.grad`` by its sum over the ranks (one ``all_reduce`` of the flat gradient)."""
        if not self.active:
            return
        params = [p for p in parameters if p.grad is not None]
        for p, g in zip(params, self.sum_all([p.grad for p in params])):
            p.grad.copy_(g)

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Give every rank rank 0's parameters and buffers (once, at the start of a run)."""
        if not self.active:
            return
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                self._timed(lambda t=t: dist.broadcast(t.data, 0), t)

    def any(self, flag: bool, device=None) -> bool:
        """True on every rank when ``flag`` is true on at least one."""
        if not self.active:
            return bool(flag)
        value = torch.tensor([1.0 if flag else 0.0], device=device or self.device)
        self._timed(lambda: dist.all_reduce(value, op=dist.ReduceOp.MAX), value)
        return bool(value.item() > 0)

    def gather(self, obj) -> list:
        """``obj`` of every rank, in rank order (small picklable values: stop reasons, paths)."""
        if not self.active:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def from_main(self, obj):
        """Rank 0's ``obj`` on every rank (a run directory's name, say)."""
        return self.gather(obj)[0] if self.active else obj

    def check_in_sync(self, vector: torch.Tensor, what: str = "parameters") -> None:
        """Raise ``RuntimeError`` unless ``vector`` is bitwise the same on every rank (a silent desync is a bug)."""
        if not self.active:
            return
        reference = vector.detach().clone().contiguous()
        dist.broadcast(reference, 0)
        differs = self.any(not torch.equal(reference, vector.detach()), device=vector.device)
        if differs:
            raise RuntimeError(f"the ranks' {what} differ: the data-parallel run lost sync (a bug; please report it)")


SINGLE = Ranks()
_current: Ranks | None = None
_interrupt = {"requested": False}


def defer_interrupts() -> None:
    """In a rank: Ctrl-C (SIGINT) and SIGTERM (the launcher stopping the ranks, SLURM's pre-emption) ask the run to
    stop after the step under way, on every rank together (:func:`interrupt_requested`), so rank 0 checkpoints a
    whole step; a second signal interrupts at once."""
    import signal

    def request(signum, frame):
        if _interrupt["requested"]:
            raise KeyboardInterrupt
        _interrupt["requested"] = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request)


def interrupt_requested() -> bool:
    """True once this process received a deferred interrupt (:func:`defer_interrupts`)."""
    return _interrupt["requested"]


def current() -> Ranks:
    """The ranks of this process's run: those of the initialized process group, else :data:`SINGLE`."""
    global _current
    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    if _current is None or _current.world_size != dist.get_world_size():
        local_rank = (environment() or {}).get("local_rank", 0)  # torchrun's LOCAL_RANK or srun's SLURM_LOCALID
        _current = Ranks(dist.get_rank(), dist.get_world_size(), local_rank, joined=True)
        if dist.get_backend() == "nccl":
            _current.device = f"cuda:{torch.cuda.current_device()}"
    return _current


def environment(env=None) -> dict | None:
    """The rank, world size, local rank and rendezvous address a launcher set, or ``None`` (one process).

    ``torchrun`` (and ``physopt solve --nproc``) set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``, ``MASTER_PORT``; ``srun`` sets ``SLURM_PROCID``, ``SLURM_STEP_NUM_TASKS`` and
    ``SLURM_LOCALID`` (the address is ``MASTER_ADDR`` if given, else the node that ran ``srun``;
    the port ``MASTER_PORT``, else 29500 + the job id modulo 1000).
    """
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        return {"rank": int(env["RANK"]), "world_size": int(env["WORLD_SIZE"]), "local_rank": int(env.get("LOCAL_RANK", 0)),
                "master_addr": env.get("MASTER_ADDR", "127.0.0.1"), "master_port": env.get("MASTER_PORT", "29500")}
    tasks = env.get("SLURM_STEP_NUM_TASKS")
    if tasks is not None and int(tasks) > 1 and "SLURM_PROCID" in env:
        port = env.get("MASTER_PORT") or str(29500 + int(env.get("SLURM_JOB_ID", "0")) % 1000)
        addr = env.get("MASTER_ADDR") or env.get("SLURM_LAUNCH_NODE_IPADDR", "127.0.0.1")
        return {"rank": int(env["SLURM_PROCID"]), "world_size": int(tasks), "local_rank": int(env.get("SLURM_LOCALID", 0)),
                "master_addr": addr, "master_port": port}
    return None


def initialize(device: str = "cpu", timeout_s: float = 1800.0) -> Ranks:
    """Join the process group the environment describes (:func:`environment`); one process: :data:`SINGLE`.

    ``device`` picks the backend: NCCL for ``cuda`` (rank ``local_rank`` on GPU ``local_rank``), gloo for ``cpu``.
    Calling it again returns the ranks already joined.
    """
    found = environment()
    if found is None:
        return SINGLE
    if dist.is_initialized():
        return current()
    cuda = torch.device(device).type == "cuda"
    if cuda:
        if not torch.cuda.is_available():
            raise ConfigurationError(f"device '{device}' requested for a run on {found['world_size']} processes, but this "
                                     "torch has no CUDA; use --device cpu")
        if found["local_rank"] >= torch.cuda.device_count():
            raise ConfigurationError(f"rank {found['rank']} needs GPU {found['local_rank']}, but this node has "
                                     f"{torch.cuda.device_count()}: use --nproc {torch.cuda.device_count()} or fewer")
        torch.cuda.set_device(found["local_rank"])
    os.environ.setdefault("MASTER_ADDR", found["master_addr"])
    os.environ.setdefault("MASTER_PORT", str(found["master_port"]))
    dist.init_process_group("nccl" if cuda else "gloo", init_method="env://", rank=found["rank"],
                            world_size=found["world_size"], timeout=datetime.timedelta(seconds=timeout_s))
    return current()


def finish() -> None:
    """Leave the process group (a script that goes on in one process after its data-parallel part)."""
    global _current
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _current = None


def exit_rank(code: int = 0) -> None:
    """End a rank's process now, with exit code ``code``, once its work is done and its files are closed.

    Skips the interpreter's teardown, where the process group's C++ threads can abort a finished rank
    ("terminate called without an active exception", seen about once in ten runs on a loaded machine),
    which the launcher would report as a failure.
    """
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def rank_device(device: str, ranks: Ranks) -> str:
    """The device of this rank: ``cuda`` becomes ``cuda:LOCAL_RANK`` in a run on several processes."""
    parsed = torch.device(device)
    if parsed.type == "cuda" and parsed.index is None and ranks.joined:
        return f"cuda:{ranks.local_rank}"
    return device
