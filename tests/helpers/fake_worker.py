"""A stand-in child for the supervisor's fast tests: the real worker protocol, no training.

    python tests/helpers/fake_worker.py JOB.json            # as a cold child: the job on the command line
    python tests/helpers/fake_worker.py --wait PID [--tracking-uri URI]  # as a warm spare: job path on stdin
    python tests/helpers/fake_worker.py --supervise X.yaml  # `specsweep sweep X.yaml` with these children
    python tests/helpers/fake_worker.py --probe-gpu         # the GPU check: usable, as CUDA 13.0

It speaks the protocol of runner.queue.worker, through runner.queue.job (a Job in; Status, Result
and the result's ExitCode out; SIGINT -> interrupted; dies with its parent), and behaves as the
JSON plan in the environment variable SPECSWEEP_FAKE_PLAN says, keyed by run name
(`TrialSpec.run_name`, `<trial name>-s<seed>`) or "default":

    {"sleep": 0.3}            take that long, then finish with MAP = "map" (default 0.5)
    {"stop_s": 600}           take that long to stop after SIGINT (a trial ending its epoch)
    {"fail_attempts": 9}      fail (ExitCode.FAILED, reason "error: planned") while attempt <= 9
    {"crash_attempts": 1}     SIGKILL itself while attempt <= 1 (a child killed mid-trial)
    {"user_error_attempts": 9}  fail on a user error (ExitCode.USER_ERROR, reason
                              "error: UserError: planned") while attempt <= 9: never retried
    {"crash_exit_attempts": 1}  exit with ExitCode.FAILED's code but no result file while
                              attempt <= 1 (a Python crash: an uncaught exception exits 1)

Each start appends "<run name> <attempt> <pid> <CUDA_VISIBLE_DEVICES> <OMP_NUM_THREADS> <job's
threads>" to SPECSWEEP_FAKE_LOG, so a test counts executions; each warm spare appends its pid to
SPECSWEEP_FAKE_SPARES (when set) as it starts, so a test can tell which processes were spares and
check that none outlives the sweep.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from runner.queue import worker
from runner.queue.job import ExitCode, Job, Result, Status, Timing


def main(job_path: str) -> int:
    job = Job.read(Path(job_path))
    worker.die_with_parent(job.supervisor_pid)
    signal.signal(signal.SIGINT, worker._interrupt)
    run_name = job.spec.run_name
    plans = json.loads(os.environ.get("SPECSWEEP_FAKE_PLAN", "{}"))
    plan = {**plans.get("default", {}), **plans.get(run_name, {})}
    attempt = job.attempt
    with open(os.environ["SPECSWEEP_FAKE_LOG"], "a") as log:
        log.write(
            f"{run_name} {attempt} {os.getpid()} {os.environ.get('CUDA_VISIBLE_DEVICES')!r} "
            f"{os.environ.get('OMP_NUM_THREADS')} {job.threads}\n"
        )
    t_start = time.time()
    Status("starting", 0, None, t=t_start).write(job.status_path)

    def result(
        status: str,
        reason: str | None,
        metrics: dict,
        user_error: bool = False,
        learned_reason=None,
    ) -> ExitCode:
        timing = Timing(t_spawn=job.t_spawn, t_start=t_start, t_ready=t_start, t_end=time.time())
        ended = Result(
            status=status,
            reason=reason,
            timing=timing,
            user_error=user_error,
            metrics=metrics,
            learned_reason=learned_reason,
        )
        ended.write(job.result_path)
        return ended.exit_code

    try:
        if attempt <= plan.get("crash_attempts", 0):
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGKILL)
        if attempt <= plan.get("crash_exit_attempts", 0):
            return ExitCode.FAILED  # what an uncaught exception exits with: no result file
        if attempt <= plan.get("user_error_attempts", 0):
            return result("FAILED", "error: UserError: planned", {}, user_error=True)
        if attempt <= plan.get("fail_attempts", 0):
            return result("FAILED", "error: planned", {})
        epochs = 2
        for epoch in range(1, epochs + 1):
            time.sleep(float(plan.get("sleep", 0.3)) / epochs)
            Status("training", epoch, epochs, t=time.time()).write(job.status_path)
    except KeyboardInterrupt:
        time.sleep(float(plan.get("stop_s", 0.0)))
        return result("KILLED", "interrupted", {})
    metrics = {"map_test": float(plan.get("map", 0.5)), "train_time_s": 0.1}
    if "learned" in plan:  # runner.train.recipe's verdict, as runner.train.trial reports it
        metrics["learned"] = float(plan["learned"])
    return result("FINISHED", None, metrics, learned_reason=plan.get("learned_reason"))


def wait(supervisor_pid: int) -> int:
    """The warm-spare protocol of runner.queue.worker: die with the supervisor, wait for a job path."""
    worker.die_with_parent(supervisor_pid)
    signal.signal(signal.SIGINT, worker._interrupt)
    if os.environ.get("SPECSWEEP_FAKE_SPARES"):
        with open(os.environ["SPECSWEEP_FAKE_SPARES"], "a") as log:
            log.write(f"{os.getpid()}\n")
    try:
        line = sys.stdin.readline().strip()
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    return main(line) if line else 0


def probe_gpu() -> int:
    """The worker's `--probe-gpu` answer for the slot's GPU: usable, unless the plan's "probe"
    says {"ok": false, "error": ...}; each probe appends its CUDA_VISIBLE_DEVICES to
    SPECSWEEP_FAKE_LOG + ".probes"."""
    with open(f"{os.environ['SPECSWEEP_FAKE_LOG']}.probes", "a") as log:
        log.write(f"{os.environ.get('CUDA_VISIBLE_DEVICES')!r}\n")
    seen = {"ok": True, "torch": "fake", "cuda": "13.0", "error": "", "name": "Fake GPU"}
    seen.update(json.loads(os.environ.get("SPECSWEEP_FAKE_PLAN", "{}")).get("probe", {}))
    print(json.dumps({**seen, "capability": "9.0"}))
    return 0


def supervise(sweep_path: str) -> int:
    from runner.commands.sweep import run_sweep
    from runner.errors import UserError
    from runner.sweep.load import load_sweep

    # The data check loads the sweep's real datasets; the fake children never read them, so
    # only the tests of the check itself turn it on.
    try:
        return run_sweep(
            load_sweep(sweep_path),
            sweep_path,
            live=False,
            worker_command=[sys.executable, __file__],
            check_data=os.environ.get("SPECSWEEP_FAKE_CHECK_DATA") == "1",
        )
    except UserError as err:  # as runner.cli prints it
        print(f"specsweep: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    if sys.argv[1] == "--supervise":
        sys.exit(supervise(sys.argv[2]))
    if sys.argv[1] == "--wait":
        sys.exit(wait(int(sys.argv[2])))
    if sys.argv[1] == "--probe-gpu":
        sys.exit(probe_gpu())
    sys.exit(main(sys.argv[1]))
