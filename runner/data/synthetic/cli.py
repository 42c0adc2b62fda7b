"""The built-in synthetic bird-soundscape dataset: 16 species whose differences the grid probes.

    python -m runner.data.synthetic                       # generate the default set, print its path
    python -m runner.data.synthetic --sheet species.png   # one spectrogram per species
    python -m runner.data.synthetic --recordings field/   # long recordings to try `specsweep predict`

(`__main__.py` runs `main`.)
"""

from __future__ import annotations

import argparse
import logging

from runner.data.config import DataConfig
from runner.data.synthetic.dataset import ensure_synthetic
from runner.data.synthetic.recordings import write_recordings
from runner.data.synthetic.sheet import write_species_sheet


def main(argv: list[str] | None = None) -> int:
    summary, examples = __doc__.split("\n\n")[:2]
    parser = argparse.ArgumentParser(
        prog="python -m runner.data.synthetic",
        description=summary,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sheet", metavar="PNG", help="write the species sheet here instead")
    parser.add_argument(
        "--recordings", metavar="DIR", help="write long field recordings here instead"
    )
    parser.add_argument("--n", type=int, default=4, help="recordings (with --recordings)")
    parser.add_argument("--duration-s", type=float, default=60.0, help="length of each (60)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.recordings:
        for path in write_recordings(args.recordings, args.n, args.duration_s):
            print(path)
    elif args.sheet:
        write_species_sheet(args.sheet)
        print(args.sheet)
    else:
        print(ensure_synthetic(DataConfig()))
    return 0
