"""Waveform -> image frontends: STFT, frequency scales, magnitude compression, resize. Pure torch."""
