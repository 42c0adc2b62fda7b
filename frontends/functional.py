"""The tensor math of the frontends: pure functions, every input an argument, no module state.

Shapes follow torchaudio: a spectrogram is `(..., freq, time)`; a filterbank is
`(n_bands, n_freqs)` (librosa's orientation, so `weights @ spec` maps FFT bins to bands).
Every function works in the dtype it is given (float32 in training, float64 in the tests that
compare against librosa); none of them loops over time frames in Python.

Sections, top to bottom: STFT, frequency scales (mel, log, ERB/gammatone), magnitude compression
(dB, exponential, PCEN with its three smoother initialisations), normalisation and resize.
"""

from __future__ import annotations

import torch

from . import _autograd, _fused, _resize, _smoother, filterbanks
from ._names import PCEN_INITS, WINDOW_NAMES

# --------------------------------------------------------------------------------------------
# STFT
# --------------------------------------------------------------------------------------------

# torch.hann_window, torch.hamming_window, ...: one per name a config may use (frontends/_names.py).
WINDOWS = {name: getattr(torch, f"{name}_window") for name in WINDOW_NAMES}


def make_window(name: str, win_length: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Periodic analysis window `(win_length,)`, as `scipy.signal.get_window(name, fftbins=True)`."""
    if name not in WINDOWS:
        raise ValueError(f"window: unknown window {name!r}; use one of {sorted(WINDOWS)}")
    return WINDOWS[name](win_length, periodic=True, dtype=dtype)


def spectrogram(
    waveform: torch.Tensor,
    window: torch.Tensor,
    n_fft: int,
    hop_length: int,
    center: bool = True,
    pad_mode: str = "reflect",
    power: float = 2.0,
) -> torch.Tensor:
    """`|STFT|**power` of `waveform (batch, samples)` -> `(batch, n_fft // 2 + 1, frames)`.

    A window shorter than `n_fft` is zero-padded on both sides (centred), as librosa and
    torch.stft do. `center=True` pads `n_fft // 2` samples at both ends with `pad_mode`, so frame
    `t` is centred on sample `t * hop_length`.
    """
    stft = torch.stft(
        waveform,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=window.shape[-1],
        window=window,
        center=center,
        pad_mode=pad_mode,
        return_complex=True,
    )  # (B, n_fft // 2 + 1, T) complex
    # |X|^2 = re^2 + im^2 without a sqrt; addcmul is ~2x faster on CPU than summing view_as_real.
    energy = stft.real.square().addcmul_(stft.imag, stft.imag)  # (B, F, T)
    if power == 2.0:
        return energy
    # x**p with p < 1 has an infinite slope at 0: a floor keeps waveform gradients finite.
    return energy.clamp_min(torch.finfo(energy.dtype).tiny).pow(power / 2.0)


def fft_frequencies(
    sample_rate: int, n_fft: int, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Centre frequency in Hz of each rFFT bin, `(n_fft // 2 + 1,)` (= `np.fft.rfftfreq`)."""
    return torch.from_numpy(filterbanks.fft_frequencies(sample_rate, n_fft)).to(dtype)


n_frames = filterbanks.n_frames  # the STFT's frame count: one function, torch-free


# --------------------------------------------------------------------------------------------
# Frequency scales
# --------------------------------------------------------------------------------------------

# The matrices are computed once per frontend, in float64 numpy (frontends/filterbanks.py, which
# the config also uses to count empty bands without torch), and rounded once to `dtype`.


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min_hz: float = 0.0,
    f_max_hz: float | None = None,
    mel_scale: str = "slaney",
    norm: str | None = "slaney",
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Mel filterbank `(n_mels, n_fft // 2 + 1)`, equal to `librosa.filters.mel` (float64)."""
    weights = filterbanks.mel_filterbank(
        sample_rate, n_fft, n_mels, f_min_hz, f_max_hz, mel_scale, norm
    )
    return torch.from_numpy(weights).to(dtype)


def log_filterbank(
    sample_rate: int,
    n_fft: int,
    n_bands: int,
    f_min_hz: float,
    f_max_hz: float | None = None,
    norm: str | None = "slaney",
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Log-spaced triangular bands `(n_bands, n_fft // 2 + 1)` (constant Q; `filterbanks.log_filterbank`)."""
    weights = filterbanks.log_filterbank(sample_rate, n_fft, n_bands, f_min_hz, f_max_hz, norm)
    return torch.from_numpy(weights).to(dtype)


def erb_filterbank(
    sample_rate: int,
    n_fft: int,
    n_bands: int,
    f_min_hz: float = 0.0,
    f_max_hz: float | None = None,
    power: float = 1.0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Gammatone-like weighting of FFT bins `(n_bands, n_fft // 2 + 1)`, after Ellis's
    `fft2gammatonemx`, raised to `power` (`filterbanks.erb_filterbank`)."""
    weights = filterbanks.erb_filterbank(
        sample_rate, n_fft, n_bands, f_min_hz, f_max_hz, power=power
    )
    return torch.from_numpy(weights).to(dtype)


# --------------------------------------------------------------------------------------------
# Magnitude compression
# --------------------------------------------------------------------------------------------


def db(spec: torch.Tensor, floor: float = 1e-6) -> torch.Tensor:
    """The seed's "decibel" frontend: `log(max(spec, floor))` (natural log; a constant factor
    away from 10 log10, which the [0, 1] normalisation after compression removes)."""
    return torch.log(spec.clamp_min(floor))


def _records_grad(*tensors: torch.Tensor) -> bool:
    """Whether autograd records this call (training), as opposed to inference or an export trace,
    which get the plain formulas (an `autograd.Function` is opaque to ONNX export)."""
    if not torch.is_grad_enabled() or torch.compiler.is_exporting():
        return False
    return any(t.requires_grad for t in tensors)


def exp_compress(spec: torch.Tensor, a: torch.Tensor, floor: float = 1e-12) -> torch.Tensor:
    """Schlüter's exponential compression `spec ** (1 / (1 + e^a))`.

    `a` is `()` / `(1, 1)` for one exponent or `(n_bands, 1)` for one per band; `spec` is
    `(..., n_bands, time)`. Values below `floor` are raised to it first: `x ** w` (w < 1) has an
    infinite slope at 0, which would turn the gradient of a silent bin into NaN. The floor
    (-120 dB below a [0, 1]-normalised peak) changes nothing visible. While training, the
    closed-form backward of `_autograd.ExpFunction` (same values, fewer passes).
    """
    if _records_grad(spec, a):
        return _autograd.ExpFunction.apply(spec, a, floor)
    return spec.clamp_min(floor).pow(torch.sigmoid(-a))  # 1 / (1 + e^a) = sigmoid(-a)


def exp_image(
    spec: torch.Tensor, a: torch.Tensor, size: tuple[int, int] | None, floor: float = 1e-12
) -> torch.Tensor | None:
    """`resize(normalize_min_max(exp_compress(spec, a, floor)).unsqueeze(1), size)` as one
    autograd function (`_fused`: no gradient image in the backward) while training a global
    exponent on a spectrogram that needs no gradient; None otherwise (run the three steps)."""
    if a.numel() != 1 or spec.requires_grad or not _records_grad(a):
        return None
    return _fused.ExpImageFunction.apply(spec, a, floor, None if size is None else tuple(size))


def pcen_smoother(
    energy: torch.Tensor, smoothing: torch.Tensor, init: str = "loop"
) -> torch.Tensor:
    """The PCEN smoother `M_t = s E_t + (1 - s) M_{t-1}` over time, `(..., freq, time)`, no loop.

    `smoothing` (s in (0, 1)) is `()`, `(1, 1)` or `(freq, 1)`. The three initialisations:

    - `loop`: the spectrogram repeated forever in time (the Merlin seed's fix for librosa's edge
      artifact, taken to its limit): the circular convolution of E with the kernel
      `s (1-s)^k / (1 - (1-s)^T)`, k = 0..T-1. It equals the run started at 0 plus
      `(1-s)^{t+1} M_{T-1} `, with `M_{T-1} = M^0_{T-1} / (1 - (1-s)^T)`.
    - `first_frame`: `M_0 = E_0`, as LEAF and Perch do.
    - `librosa`: `librosa.pcen`'s `lfilter` with `zi = lfilter_zi`, i.e. `M_{-1} = 1` whatever the
      input's scale; this is the left-edge artifact, kept for comparison.

    Computed as a blocked scan of real matrix products (`_smoother.smooth`): exact, the same
    cost at every frame count, differentiable in E and s.
    """
    if init not in PCEN_INITS:
        raise ValueError(f"pcen.init: unknown init {init!r}; use one of {list(PCEN_INITS)}")
    return _smoother.smooth(energy, smoothing, _autograd.start_state(energy, init))


def pcen(
    energy: torch.Tensor,
    smoothing: torch.Tensor,
    gain: torch.Tensor,
    bias: torch.Tensor,
    power: torch.Tensor,
    eps: torch.Tensor,
    init: str = "loop",
) -> torch.Tensor:
    """Per-channel energy normalisation (Wang et al. 2016), `(..., freq, time)` -> same shape:

        PCEN = (E / (eps + M)^gain + bias)^power - bias^power,  M = pcen_smoother(E, smoothing)

    Each parameter is `()`, `(1, 1)` or `(freq, 1)`. Written as librosa does,
    `bias^power * expm1(power * log1p(E (eps + M)^-gain / bias))`, which keeps float32 precise
    where the two terms of the difference are close (quiet frames). While training, the
    closed-form backward of `_autograd.PcenFunction` (same values, fewer passes).
    """
    if init not in PCEN_INITS:
        raise ValueError(f"pcen.init: unknown init {init!r}; use one of {list(PCEN_INITS)}")
    params = torch.broadcast_tensors(smoothing, gain, bias, power, eps)  # one shape for all five
    if _records_grad(energy, *params):
        return _autograd.PcenFunction.apply(energy, *params, init)
    return _autograd.pcen_forward(energy, *params, init)[0]


# --------------------------------------------------------------------------------------------
# Normalisation and resize
# --------------------------------------------------------------------------------------------


def normalize_min_max(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Scale each example `(..., freq, time)` to [0, 1] over its last two dims. A constant example
    (silence) becomes all zeros rather than 0/0. `inplace=True` overwrites `x` (which must not
    require grad) instead of allocating the result: same values, one tensor fewer."""
    if _records_grad(x):  # the backward of `_autograd.MinMaxFunction`: two passes, not ~eight
        return _autograd.MinMaxFunction.apply(x)
    lo = x.amin(dim=(-2, -1), keepdim=True)
    span = x.amax(dim=(-2, -1), keepdim=True) - lo
    scale = 1.0 / torch.where(span > 0, span, torch.ones_like(span))  # (..., 1, 1)
    # Multiplying by the per-example reciprocal: a cheaper backward than a broadcast division.
    if inplace:
        return x.sub_(lo).mul_(scale)
    return (x - lo) * scale


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of `(batch, channels, H, W)` to `size = (H', W')`, antialiased when either
    side shrinks (plain bilinear would alias: it reads only 2 of the many pixels a shrunk pixel
    covers). Values stay within the input's range (the weights are non-negative, summing to 1).
    Under autograd its backward is two matrix products (`_resize`), not the kernel's own."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    antialias = _resize.shrinks(image.shape[-2:], size)
    if _records_grad(image):
        return _resize.ResizeFunction.apply(image, tuple(size), antialias)
    return _resize.interpolate(image, tuple(size), antialias)
