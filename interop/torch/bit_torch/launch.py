"""Start N ranks of bit_torch.train on this machine without torchrun.

    python3 -m bit_torch.launch --nproc 2 -- EXPORT_DIR --out RUN_DIR [train options]

Sets what torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT: a free port) and starts the
ranks with torch.multiprocessing.spawn. Needed where /usr/bin/torchrun does not run (Debian's torch 1.13 on
Python 3.11 fails in elastic's `to_map` before starting any worker); the ranks are the same either way.
"""

import argparse
import os
import socket

import torch.multiprocessing as mp


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(local, nproc, port, argv):
    os.environ.update({"RANK": str(local), "LOCAL_RANK": str(local), "WORLD_SIZE": str(nproc),
                       "LOCAL_WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    from .train import main
    main(argv)


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
