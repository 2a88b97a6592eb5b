"""What this machine offers the engine: the CPU cores this process may run on."""

from __future__ import annotations

import os
from pathlib import Path


def physical_cores() -> int:
    """The physical cores this process may use (SMT siblings share one core's units).

    On Linux: the CPUs of this process's affinity mask (a container or ``taskset`` limit
    counts), folded by core through ``/sys``; elsewhere half the logical CPUs, when there are
    more than two.

    Returns:
        A core count of at least 1.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        logical = os.cpu_count() or 1
        return max(1, logical // 2) if logical > 2 else logical
    cores: set[str] = set()
    for cpu in cpus:
        siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            cores.add(siblings.read_text().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))
