"""What each PCEN preset (`frontend.pcen.preset`) does to a sustained call and to a click.

    .venv/bin/python benchmarks/pcen_presets_figure.py   # writes docs/pcen_presets.png

One seeded 3 s clip from the synthetic generator's demonstration calls
(runner/data/synthetic/species.py): pink background noise, a sustained, stationary 2.5 kHz call
(three harmonics) from 0.3 to 2.7 s, and three clicks (3 ms, 1-10 kHz) at 0.15, 1.5 and 2.85 s,
through the demo's spectrogram (window 512, hop 128, 64 mel bands, no resize) and, row by row,
dB and looped PCEN with each preset, normalised to [0, 1] as the frontend feeds the model. The
right-hand panels follow two bands over time: the call's fundamental (2.5 kHz) and a band above
the call that only the clicks reach (8 kHz).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from frontends import FrontendConfig, PcenConfig, build_frontend
from frontends.parameters import band_frequencies_hz
from frontends.pcen_presets import PCEN_PRESETS
from runner.data.synthetic._signals import colored_noise, series
from runner.data.synthetic.species import DEMO_CALLS

SR = 22050
SECONDS = 3.0
OUT = Path(__file__).resolve().parents[1] / "docs" / "pcen_presets.png"
CLICKS_S = (0.15, 1.5, 2.85)


def demo_clip(seed: int = 3) -> np.ndarray:
    """Pink noise at -30 dB re the call, the sustained call from 0.3 s, three clicks; peak 0.5."""
    rng = np.random.default_rng(seed)
    call = DEMO_CALLS["sustained_call"].song(rng, SR)
    clicks = [(t, 3.0 * DEMO_CALLS["click"].song(rng, SR)) for t in CLICKS_S]
    track = series([(0.3, call), *clicks], SR)
    n = int(SECONDS * SR)
    clip = np.zeros(n)
    clip[: min(n, track.size)] = track[:n]
    clip += 0.03 * colored_noise(rng, n, SR, 1.0)
    return (0.5 * clip / np.abs(clip).max()).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    base = FrontendConfig(sample_rate=SR, win_length=512, hop_length=128, n_mels=64)
    rows = {"dB": FrontendConfig(**{**base.__dict__, "compression": "db"})}
    for name in PCEN_PRESETS:
        cfg = FrontendConfig(
            **{**base.__dict__, "compression": "pcen", "pcen": PcenConfig(preset=name)}
        )
        p = cfg.pcen
        rows[
            f"PCEN {name}: s={p.smoothing:.3g} gain={p.gain:g} bias={p.bias:g} power={p.power:g}"
        ] = cfg
    clip = torch.from_numpy(demo_clip())
    images, bands = {}, None
    with torch.no_grad():
        for title, cfg in rows.items():
            frontend = build_frontend(cfg)
            images[title] = frontend(clip)[0, 0].numpy()  # (64, frames)
            if bands is None:
                hz = np.array(band_frequencies_hz(frontend))
                bands = {"call 2.5 kHz": int(np.abs(hz - 2500).argmin()),
                         "clicks only, 8 kHz": int(np.abs(hz - 8000).argmin())}  # fmt: skip

    fig, axes = plt.subplots(
        len(rows), 2, figsize=(14, 2.3 * len(rows)), gridspec_kw={"width_ratios": [1.6, 1]}
    )
    for (image_ax, trace_ax), (title, image) in zip(axes, images.items()):
        image_ax.imshow(image, origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=1,
                        extent=(0, SECONDS, 0, image.shape[0]))  # fmt: skip
        image_ax.set_title(title, loc="left", fontsize=10)
        image_ax.set_ylabel("mel band")
        time_s = np.linspace(0, SECONDS, image.shape[1])
        for (label, band), colour in zip(bands.items(), ("tab:blue", "tab:orange")):
            trace_ax.plot(time_s, image[band], colour, lw=1.1, label=label)
        for t in CLICKS_S:
            trace_ax.axvline(t, color="0.7", lw=0.6, ls=":")
        trace_ax.axvspan(0.3, 2.7, color="tab:blue", alpha=0.06)
        trace_ax.set_ylim(-0.02, 1.02)
        trace_ax.set_xlim(0, SECONDS)
        trace_ax.grid(alpha=0.3)
    axes[0, 1].legend(loc="upper center", fontsize=8, ncol=2)
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 1].set_xlabel("time (s); shaded: the call, dotted: the clicks")
    fig.suptitle(
        "A sustained 2.5 kHz call (0.3-2.7 s) and three clicks through dB and each PCEN preset "
        "(looped; window 512, hop 128, 64 mel; each image normalised to [0, 1])",
        fontsize=11,
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
