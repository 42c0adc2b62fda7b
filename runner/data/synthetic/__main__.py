"""`python -m runner.data.synthetic`: generate the synthetic set, the species sheet or long
recordings (the options are in `runner.data.synthetic.cli`)."""

from runner.data.synthetic.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
