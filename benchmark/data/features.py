"""Audio features computed once at cache-build time, never in the training loop."""
from __future__ import annotations

import torch
import torchaudio

# Log-mel: 25 ms windows, 10 ms hop, 64 bands (the VGGish front end's framing).
N_MELS = 64
# Fixed affine normalisation of log-mel (like EZ-VSL's fixed mean 0 / std 12 for its log
# spectrogram), so no statistic is ever computed from evaluation data.
LOGMEL_MEAN, LOGMEL_STD = 0.5, 2.0  # roughly centres the synthetic clips' log-mel


# Goes into the cache key: change any of it and stores are rebuilt.
FEATURE_SPEC = {"kind": "logmel", "n_mels": N_MELS, "win_s": 0.025, "hop_s": 0.010, "n_fft": 512,
                "mean": LOGMEL_MEAN, "std": LOGMEL_STD}


def logmel(waveforms: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """(B, T) float waveforms -> (B, 1, N_MELS, frames) normalised log-mel."""
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate, n_fft=512, win_length=int(0.025 * sample_rate),
        hop_length=int(0.010 * sample_rate), n_mels=N_MELS, power=2.0,
    )(waveforms.float())
    return ((mel + 1e-6).log() - LOGMEL_MEAN).div(LOGMEL_STD).unsqueeze(1)
