"""The CPU cores this process may run on: the one count every thread budget starts from.

    cores = available_cores()   # 4 under `taskset -c 0-3` or a SLURM allocation of 4 CPUs

`os.cpu_count()` counts the machine's cores, including those the process may not use (its CPU
affinity, set by taskset, cgroups or SLURM); thread budgets sized by it oversubscribe the cores
the process has. The slots (`runner.queue.slots`) and the data loaders (`runner.data.sampling`)
both count with this function, so they agree.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """CPU cores this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux: no affinity to read
        return os.cpu_count() or 1
