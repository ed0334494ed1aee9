"""Start N ranks of bit_torch.train on this machine without torchrun.

    python3 -m bit_torch.launch --nproc 2 -- EXPORT_DIR --out RUN_DIR [train options]

Sets what torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT: a free port) and starts the
ranks with torch.multiprocessing.spawn. Needed where /usr/bin/torchrun does not run (Debian's torch 1.13 on
Python 3.11 fails in elastic's `to_map` before starting any worker); the ranks are the same either way.

A rank that has finished (its outputs written and closed) leaves with os._exit(0), skipping the interpreter's
teardown: one rank was once seen to finish training and then spin at 100% CPU in it, under load, hanging the
launcher's join. On Linux each rank is also killed if the launcher dies (PR_SET_PDEATHSIG), so a launcher killed by
a caller's timeout leaves no rank behind.
"""

import argparse
import os
import signal
import socket
import sys

import torch.multiprocessing as mp


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """Linux: SIGKILL this process when the launcher exits (prctl PR_SET_PDEATHSIG = 1); elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _rank(local, nproc, port, argv):
    _die_with_parent()
    os.environ.update({"RANK": str(local), "LOCAL_RANK": str(local), "WORLD_SIZE": str(nproc),
                       "LOCAL_WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    from .train import main
    main(argv)
    # finished: every output is written and closed; leave without the interpreter's teardown (see the docstring)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main():
    p = argparse.ArgumentParser(prog="bit_torch.launch")
    p.add_argument("--nproc", type=int, default=1)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="-- then bit_torch.train's arguments")
    a = p.parse_args()
    rest = a.rest[1:] if a.rest[:1] == ["--"] else a.rest
    port = free_port()
    mp.spawn(_rank, args=(a.nproc, port, rest), nprocs=a.nproc, join=True)


if __name__ == "__main__":
    main()
