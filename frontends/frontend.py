"""The frontend module: waveforms `(batch, samples)` -> images `(batch, channels, H, W)`.

    spectrogram (STFT power) -> frequency scale -> [0, 1] per example -> compression(s)
        -> [0, 1] per example -> resize to image_size -> channels

It is the first layer of the model and runs on the training device, inside the batch. All of it
runs in float32 with autocast switched off: the compressions divide and take logs and powers of
values spanning many decades, which bfloat16/float16 (8/11 mantissa bits) cannot represent
(the seed measured this as a need for "32 bit rather than 16" in PCEN). The backbone after it is
free to run under autocast; the frontend's output is float32 either way.

    cfg = FrontendConfig(compression="pcen", image_size=(128, 512))
    frontend = build_frontend(cfg).to("cuda")
    images = frontend(waveforms)  # (64, 66150) -> (64, 1, 128, 512)
"""

from __future__ import annotations

import torch
from torch import nn

# Importing compression and scales registers the built-in classes create_* look up.
from . import compression, functional, scales  # noqa: F401
from ._registry import create_compression, create_scale
from .config import FrontendConfig

# On a CPU the batch goes through in chunks of clips whose STFT frames hold about this many
# values (4 MiB in float32: 4 three-second clips at n_fft 256, 2 at 512). Each intermediate then
# stays in cache instead of streaming tens of MB through memory at every step, and stays under
# glibc's mmap threshold (32 MiB), above which every temporary is fresh pages to fault in and
# zero. Measured at the demo's settings, batch 32, one thread: 2.3 -> 0.75 ms per clip (3x).
# On a GPU the whole batch is one set of kernels, which is what a GPU wants.
CPU_CHUNK_VALUES = 1 << 20
# A learning compression's chunks: about this many spectrogram values (2 MiB in float32). Measured
# at the demo's settings (batch 32, 64 x 517), the frontend's forward + backward against the
# STFT's chunks of 3 clips: PCEN 57.6 -> 51.7 ms, per band 66.1 -> 57.4, exp 40.6 -> 37.8.
CPU_COMPRESS_VALUES = 1 << 19


class Spectrogram(nn.Module):
    """`|STFT|**power`: `(batch, samples)` -> `(batch, n_fft // 2 + 1, frames)`; window as buffer."""

    def __init__(
        self,
        n_fft: int,
        win_length: int,
        hop_length: int,
        window: str = "hann",
        center: bool = True,
        pad_mode: str = "reflect",
        power: float = 2.0,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        if n_fft < win_length:
            raise ValueError(
                f"n_fft: {n_fft} is smaller than win_length {win_length}; use n_fft >= {win_length}"
            )
        self.n_fft, self.hop_length, self.center, self.pad_mode, self.power = (
            n_fft,
            hop_length,
            center,
            pad_mode,
            power,
        )
        self.register_buffer("window", functional.make_window(window, win_length, dtype))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return functional.spectrogram(
            waveform,
            self.window,
            self.n_fft,
            self.hop_length,
            self.center,
            self.pad_mode,
            self.power,
        )

    def extra_repr(self) -> str:
        return (
            f"n_fft={self.n_fft}, win_length={self.window.shape[0]}, hop_length={self.hop_length}, "
            f"center={self.center}, power={self.power}"
        )


class Frontend(nn.Module):
    """The configured waveform -> image pipeline; see the module docstring.

    Computes in `dtype`: float32, or float64 for the tests that compare against librosa (every
    matrix and parameter is then built in float64, not upcast from float32). One STFT and one scale are shared by all channels; each distinct
    compression runs once even when its channel is repeated.
    """

    def __init__(self, cfg: FrontendConfig, dtype: torch.dtype = torch.float32):
        super().__init__()
        cfg = cfg.resolved()
        self.cfg = cfg
        self.spectrogram = Spectrogram(
            cfg.n_fft,
            cfg.win_length,
            cfg.hop_length,
            cfg.window,
            cfg.center,
            cfg.pad_mode,
            cfg.power,
            dtype,
        )
        self.scale = create_scale(cfg.scale, cfg, dtype)
        self.n_bands = self.scale.n_bands
        names = cfg.channel_compressions
        self.compressions = nn.ModuleDict(
            {
                name: create_compression(name, cfg, self.n_bands, dtype)
                for name in dict.fromkeys(names)
            }
        )
        self.channel_index = [list(self.compressions).index(name) for name in names]

    @property
    def min_samples(self) -> int:
        """The shortest clip the STFT accepts: one full FFT frame."""
        return self.cfg.n_fft

    def output_shape(self, n_samples: int) -> tuple[int, int, int]:
        """`(channels, H, W)` of the image for a clip of `n_samples`."""
        if self.cfg.image_size is not None:
            return (self.cfg.out_channels, *self.cfg.image_size)
        frames = functional.n_frames(
            n_samples, self.cfg.n_fft, self.cfg.hop_length, self.cfg.center
        )
        return (self.cfg.out_channels, self.n_bands, frames)

    def forward(self, waveform: torch.Tensor, check_finite: bool = True) -> torch.Tensor:
        """`(batch, samples)` or `(samples,)` float waveform -> `(batch, channels, H, W)` float32.

        `check_finite=False` skips the NaN/inf check for a caller that has already checked the
        batch (the training loop checks it on the CPU before the copy to the GPU, where the check
        would cost a device sync per batch); see `check_finite`.
        """
        waveform = self._check_waveform(waveform, check_finite)
        if waveform.device.type == "cpu" and not exporting():  # an exported batch is symbolic
            frames = functional.n_frames(
                waveform.shape[-1], self.cfg.n_fft, self.cfg.hop_length, self.cfg.center
            )
            chunk = max(1, CPU_CHUNK_VALUES // (frames * self.cfg.n_fft))
            if waveform.shape[0] > chunk:
                parts = waveform.split(chunk)
                if not self._learns():
                    return torch.cat([self._images(part) for part in parts])
                # A learning compression runs on bigger chunks than the STFT: its autograd
                # functions cost a fixed ~0.1-0.3 ms per call (forward and backward) on top of
                # their passes, and a tensor of CPU_COMPRESS_VALUES still fits a core's L2 cache.
                spec = torch.cat([self._spectrogram(part) for part in parts])  # (B, F, T)
                pieces = spec.tensor_split(-(-spec.numel() // CPU_COMPRESS_VALUES))
                return torch.cat([self._compress(piece) for piece in pieces])
        return self._images(waveform)

    def _learns(self) -> bool:
        """Whether autograd records a gradient for a compression's parameters in this call."""
        return torch.is_grad_enabled() and any(
            p.requires_grad for p in self.compressions.parameters()
        )

    def _images(self, waveform: torch.Tensor) -> torch.Tensor:
        """The pipeline on a checked `(batch, samples)` waveform -> `(batch, channels, H, W)`."""
        return self._compress(self._spectrogram(waveform))

    def _spectrogram(self, waveform: torch.Tensor) -> torch.Tensor:
        """`(batch, samples)` -> the scaled spectrogram `(batch, F, T)`, [0, 1] if normalize_before."""
        dtype = self.spectrogram.window.dtype
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            spec = self.scale(self.spectrogram(waveform.to(dtype)))  # (B, F, T)
            # Intermediates this forward made itself are rescaled in place (no 4-byte-per-pixel
            # temporaries) unless autograd needs them, i.e. unless they require grad.
            if self.cfg.normalize_before:
                spec = functional.normalize_min_max(spec, inplace=not spec.requires_grad)
            return spec

    def _compress(self, spec: torch.Tensor) -> torch.Tensor:
        """The scaled spectrogram `(batch, F, T)` -> `(batch, channels, H, W)`."""
        with torch.autocast(device_type=spec.device.type, enabled=False):
            channels = []
            for compression in self.compressions.values():
                fused = getattr(compression, "normalized_image", None)
                if self.cfg.normalize_after and fused is not None:
                    image = fused(spec, self.cfg.image_size)  # (B, 1, H', W'), or None
                    if image is not None:
                        channels.append(image)
                        continue
                image = compression(spec)  # (B, F, T)
                if self.cfg.normalize_after:
                    # `none` returns `spec` itself, which the next compression still reads.
                    own = image is not spec and not image.requires_grad
                    image = functional.normalize_min_max(image, inplace=own)
                image = image.unsqueeze(1)  # (B, 1, F, T)
                if self.cfg.image_size is not None:
                    image = functional.resize(image, self.cfg.image_size)
                channels.append(image)
            if len(channels) == 1 and self.cfg.out_channels == 1:
                return channels[0]
            # Repeated channels are real copies: later in-place edits (augmentation) stay per channel.
            return torch.cat([channels[i] for i in self.channel_index], dim=1)  # (B, C, H, W)

    def _check_waveform(self, waveform: torch.Tensor, check_finite: bool = True) -> torch.Tensor:
        if not isinstance(waveform, torch.Tensor):
            raise ValueError(
                f"waveform: expected a torch.Tensor (batch, samples), got {type(waveform).__name__}"
            )
        if waveform.ndim == 1:
            waveform = waveform.unsqueeze(0)
        if waveform.ndim != 2:
            raise ValueError(
                f"waveform: shape {tuple(waveform.shape)} is not (batch, samples) or (samples,); "
                "mix multi-channel audio down to mono and stack clips into one (batch, samples) tensor"
            )
        if not waveform.is_floating_point():
            raise ValueError(
                f"waveform: dtype {waveform.dtype} is not floating point; pass samples in [-1, 1], "
                "e.g. int16 audio as x.float() / 32768"
            )
        if waveform.shape[-1] < self.min_samples:
            seconds = waveform.shape[-1] / self.cfg.sample_rate
            raise ValueError(
                f"waveform: {waveform.shape[-1]} samples ({seconds:.4f} s at {self.cfg.sample_rate} Hz) "
                f"is shorter than one FFT frame (n_fft = {self.cfg.n_fft} samples); use clips of at least "
                f"{self.min_samples} samples or a smaller win_length / n_fft"
            )
        if check_finite:
            check_finite_waveform(waveform)
        return waveform


def check_finite_waveform(waveform: torch.Tensor) -> None:
    """Raise ValueError naming the clips of `waveform (batch, samples)` that hold NaN or inf: one
    would silently poison the min-max normalisation of its whole image.

    Cheap first: one sum per clip (NaN and inf propagate through a sum, and audio in [-1, 1]
    cannot overflow float32 by summing), so clean audio costs one read of the batch instead of a
    boolean tensor and two reductions. Reading the result is a device sync on a GPU: call it on
    the CPU batch before the copy, and `Frontend.forward(..., check_finite=False)` after.

    Skipped while the model is exported (ONNX, torch.export): a graph cannot raise on its data,
    and a data-dependent branch stops the export. Eager calls always check.
    """
    if exporting():
        return
    if bool(torch.isfinite(waveform.sum(dim=-1)).all()):
        return
    finite = torch.isfinite(waveform).all(dim=-1)  # (B,): the sum overflowed, or a clip is bad
    bad = (~finite).nonzero().flatten().tolist()
    if bad:
        raise ValueError(
            f"waveform: {len(bad)} of {waveform.shape[0]} clips contain NaN or inf samples "
            f"(clip indices {bad[:10]}); clean or drop those clips before the frontend"
        )


def exporting() -> bool:
    """Is this forward being traced into a graph (torch.export, the ONNX exporters, jit.trace)?"""
    is_exporting = getattr(torch.compiler, "is_exporting", None)
    return bool(
        (is_exporting is not None and is_exporting())
        or torch.onnx.is_in_onnx_export()
        or torch.jit.is_tracing()
    )


def build_frontend(cfg: FrontendConfig, dtype: torch.dtype = torch.float32) -> Frontend:
    """The frontend module for `cfg` (resolved first: `n_fft` is filled in), computing in `dtype`."""
    return Frontend(cfg, dtype)
