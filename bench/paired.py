#!/usr/bin/python3
"""Paired A/B of two builds of fence_vmware_rest: one status of each, in
random order, N times, against a running simulator; prints each build's
median and mean wall time, its mean CPU time, and the mean of the paired
differences with its 95 % interval.

Two hyperfine runs minutes apart on this shared machine differ by more
than most changes save; a pair shares its moment's load, so the
differences keep what the change does and lose most of the load.

    bench/paired.py READY_JSON N BUILD_A BUILD_B [agent options...]

READY_JSON is the ready.json a cts/vcsim writes in its -state-dir (its
port); BUILD_A and BUILD_B are fence_vmware binaries (run through a
symlink named fence_vmware_rest, the personality). The agent options
default to a plain-HTTP status of node10 on /api as fenceuser/benchpw,
what bench/run.sh's simulators accept.

A benchmark, not a test: nothing here passes or fails on a time.
"""

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    ready, n, build_a, build_b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    port = json.load(open(ready))["port"]
    options = sys.argv[5:] or ["--notls", "--api-path=/api", "-o", "status", "-n", "node10"]
    args = ["-a", "127.0.0.1", "-u", str(port), "-l", "fenceuser", "-p", "benchpw"] + options
    links = tempfile.mkdtemp(prefix="paired.")
    builds = {}
    for name, path in (("A", build_a), ("B", build_b)):
        os.mkdir(os.path.join(links, name))
        link = os.path.join(links, name, "fence_vmware_rest")
        os.symlink(os.path.realpath(path), link)
        builds[name] = link

    def run(name):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([builds[name]] + args, stdout=subprocess.DEVNULL)
        wall = (time.perf_counter() - start) * 1000
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode not in (0, 2):
            sys.exit(f"build {name} exited {done.returncode}")
        cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
        return wall, cpu

    for _ in range(10):
        run("A")
        run("B")
    wall = {"A": [], "B": []}
    cpu = {"A": [], "B": []}
    diffs = []
    for _ in range(n):
        order = ["A", "B"]
        random.shuffle(order)
        pair = {}
        for name in order:
            w, c = run(name)
            wall[name].append(w)
            cpu[name].append(c)
            pair[name] = w
        diffs.append(pair["B"] - pair["A"])
    for name, path in (("A", build_a), ("B", build_b)):
        print(f"{name} {path}: median {statistics.median(wall[name]):.2f} ms, "
              f"mean {statistics.mean(wall[name]):.2f} ms, CPU {statistics.mean(cpu[name]):.2f} ms")
    half = 1.96 * statistics.stdev(diffs) / len(diffs) ** 0.5
    print(f"B - A, {n} pairs: median {statistics.median(diffs):+.3f} ms, "
          f"mean {statistics.mean(diffs):+.3f} ms (95 %: ±{half:.3f})")


if __name__ == "__main__":
    main()
