"""specsweep's runner: everything between a sweep file and a sweep's results, in layers that
import one way only (docs/contributing.md, "Code layout"):

    commands/  the CLI, thin: parse, call one layer below, print
    queue/     the Optuna work queue, the supervisor and its child processes, the job protocol
    train/     one trial in the process that runs it: data -> model -> train -> evaluate
    tracking/  all MLflow writing and reading
    sweep/     the sweep file in, trial specs out (schema, limits, grid)
    data/      datasets, the audio cache, the synthetic birds
    servers/   PostgreSQL for a shared queue, URL checks, secrets kept out of logs

Spectrogram frontends (`frontends/`), classifiers (`models/`) and the report (`reports/`) are
packages of their own below it; none of them imports `runner`.
"""
