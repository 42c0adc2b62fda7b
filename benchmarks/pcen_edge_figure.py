"""One clip through dB, exp, PCEN with librosa's initialisation and looped PCEN, side by side.

    .venv/bin/python benchmarks/pcen_edge_figure.py      # writes benchmarks/figures/pcen_edge.png

The clip is synthetic and seeded (so the figure is reproducible without data): stationary pink
background noise with a few bird-like frequency-modulated calls, 3 s at 22050 Hz, through the
seed's best spectrogram (window 512, hop 128, 128 mel bands, 128x512). librosa's PCEN starts its
smoother at 1, the maximum of the [0, 1]-normalised spectrogram, so the clip comes out dark until
the smoother has decayed to the noise floor (about 2 s here, at smoothing 0.025 per 5.8 ms hop); the looped smoother has no start. The bottom panel plots the mean of
each frame over bands, which is what the eye reads as brightness.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from frontends import FrontendConfig, PcenConfig, build_frontend

SR = 22050
OUT = Path(__file__).resolve().parent / "figures" / "pcen_edge.png"


def synthetic_clip(seconds: float = 3.0, seed: int = 7) -> np.ndarray:
    """Pink noise (-3 dB/octave, stationary) plus five FM calls with a harmonic, peak 0.5."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, n)
    noise *= 0.05 / noise.std()
    t = np.arange(n) / SR
    calls = np.zeros(n)
    for start_s, f0_hz, sweep_hz in [
        (0.15, 3200, 1500),
        (0.8, 4500, -2000),
        (1.4, 2500, 2500),
        (2.0, 5200, -1500),
        (2.5, 3600, 1800),
    ]:
        inside = (t >= start_s) & (t < start_s + 0.25)
        tau = t[inside] - start_s
        phase = 2 * np.pi * (f0_hz * tau + 0.5 * sweep_hz / 0.25 * tau**2)
        envelope = np.sin(np.pi * tau / 0.25) ** 2
        calls[inside] += envelope * (np.sin(phase) + 0.3 * np.sin(2 * phase))
    clip = noise + 0.15 * calls
    return (0.5 * clip / np.abs(clip).max()).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    best = FrontendConfig(
        sample_rate=SR, win_length=512, hop_length=128, n_mels=128, image_size=(128, 512)
    )
    panels = {
        "dB: log(max(S, 1e-6))": replace(best, compression="db"),
        "exp: S^(1/(1+e^a)), a = 0": replace(best, compression="exp"),
        "PCEN, librosa init (smoother starts at 1)": replace(
            best, compression="pcen", pcen=PcenConfig(init="librosa")
        ),
        "PCEN, looped (specsweep default)": replace(
            best, compression="pcen", pcen=PcenConfig(init="loop")
        ),
    }
    clip = torch.from_numpy(synthetic_clip())
    images = {}
    with torch.no_grad():
        for title, cfg in panels.items():
            images[title] = build_frontend(cfg)(clip)[0, 0].numpy()  # (128, 512)

    fig, axes = plt.subplots(
        len(panels) + 1,
        1,
        figsize=(11, 13),
        gridspec_kw={"height_ratios": [1] * len(panels) + [0.8]},
    )
    seconds = 3.0
    for ax, (title, image) in zip(axes, images.items()):
        ax.imshow(
            image,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=0,
            vmax=1,
            extent=(0, seconds, 0, 128),
        )
        k = image.shape[1] // 10
        edge = image[:, :k].mean() / image[:, k:].mean()
        ax.set_title(
            f"{title}    (first 10% of frames / rest: {edge:.2f})", loc="left", fontsize=11
        )
        ax.set_ylabel("mel band")
        ax.set_xticks([])
    profile_ax = axes[-1]
    time_s = np.linspace(0, seconds, 512)
    for title, colour in [(list(panels)[2], "tab:red"), (list(panels)[3], "tab:blue")]:
        profile_ax.plot(time_s, images[title].mean(axis=0), colour, label=title, lw=1.2)
    profile_ax.set_xlim(0, seconds)
    profile_ax.set_xlabel("time (s)")
    profile_ax.set_ylabel("mean over bands")
    profile_ax.set_title(
        "Brightness per frame: librosa's init is dark until ~2 s (its smoother decays from 1 to the noise floor); looped PCEN has no start",
        loc="left",
        fontsize=11,
    )
    profile_ax.legend(loc="lower right", fontsize=9)
    profile_ax.grid(alpha=0.3)
    fig.suptitle(
        "One 3 s clip (stationary pink noise + 5 synthetic calls), window 512 / hop 128 / 128 mel / 128x512",
        fontsize=12,
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
