"""The local Ray the product starts listens on 127.0.0.1 only: nothing of it is reachable from
another machine. Checked on the real processes, in a fresh interpreter (the test session's own
Ray must not be the one looked at)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, os
from pathlib import Path
import ray
from resources.ray import RayResource

RayResource(enabled=True, num_cpus=1).runner()
@ray.remote
def task():
    return os.getpid()
ray.get(task.remote())  # a worker has started and served

def descendants(pid):
    found, stack = set(), [pid]
    while stack:
        p = stack.pop()
        found.add(p)
        for t in Path(f"/proc/{p}/task").glob("*"):
            try:
                stack += [int(c) for c in (t / "children").read_text().split()]
            except OSError:
                pass
    return found

def socket_inodes(pid):
    out = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(link[8:-1])
    return out

def listening(table, ipv6):
    rows = {}
    for line in Path(table).read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] != "0A":  # LISTEN
            continue
        addr = parts[1].split(":")[0]
        rows[parts[9]] = addr
    return rows

ours = set().union(*(socket_inodes(p) for p in descendants(os.getpid())))
bound = {}
for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
    for inode, addr in listening(table, v6).items():
        if inode in ours:
            bound[inode] = addr
print(json.dumps(sorted(bound.values())))
ray.shutdown()
"""

# Loopback as /proc/net/tcp writes it (little-endian hex): 127.0.0.1, and ::ffff:127.0.0.1 and ::1 in tcp6.
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def test_the_local_ray_listens_on_loopback_only():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    addresses = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(addresses) >= 3  # GCS, raylet, worker: the servers were found
    assert set(addresses) <= LOOPBACK, addresses
