"""The work queue and its processes: which trial runs where, and how each attempt ended.

Owns the Optuna store and its locks (`store`), the search space (`space`), the queue of points
with its retries (`study`) and the leases on running attempts (`leases`), the one
supervisor-child protocol (`job`: the job a child is handed, the result it hands back, the exit
codes), the slots and GPU discovery (`slots`), the child processes and their warm spares
(`spares`), the supervisor loop (`supervisor`), the child process (`worker`, run as `python -m
runner.queue.worker`) and the progress display (`progress`). It never trains a model itself: a
child calls `runner.train.trial`.
"""
