"""Audio front ends of the paper's audio backbones (docs/methods.md §1.2).

VGGish: log-mel computed as in Google's published front end (vggish_input.py /
mel_features.py of tensorflow/models research/audioset/vggish), re-implemented with
torch: 25 ms frames every 10 ms with no padding, periodic Hann window, |rfft| with
n_fft 512, 64 HTK-mel triangles from 125 to 7500 Hz whose slopes are linear in *mel*
(not in Hz, unlike torchaudio's filterbank, hence our own matrix) and with the DC bin
zeroed, then log(mel + 0.01). Examples are 96 consecutive frames, hop 96, and only
complete examples are kept. One example needs 400 + 95*160 = 15600 samples (0.975 s),
so a clip of exactly k*0.96 s yields k-1 examples; 3 s gives 298 frames -> 3 examples.

SoundNet takes the raw waveform at 22.05 kHz: no front end beyond resampling.
"""
from __future__ import annotations

import math

import torch

VGGISH_SAMPLE_RATE = 16000
SOUNDNET_SAMPLE_RATE = 22050

VGGISH_WINDOW = 400  # round(0.025 s * 16 kHz)
VGGISH_HOP = 160  # round(0.010 s * 16 kHz)
VGGISH_N_FFT = 512  # next power of two above the window
VGGISH_MEL_BANDS = 64
VGGISH_FMIN, VGGISH_FMAX = 125.0, 7500.0
VGGISH_LOG_OFFSET = 0.01
VGGISH_EXAMPLE_FRAMES = 96  # 0.96 s of 10 ms frames


def hertz_to_mel(hz):
    """HTK mel scale."""
    return 1127.0 * torch.log1p(torch.as_tensor(hz, dtype=torch.float64) / 700.0)


def vggish_mel_matrix() -> torch.Tensor:
    """(n_fft/2+1, 64) float64 matrix M with mel = |STFT| @ M."""
    n_bins = VGGISH_N_FFT // 2 + 1
    bins_mel = hertz_to_mel(torch.linspace(0.0, VGGISH_SAMPLE_RATE / 2, n_bins, dtype=torch.float64))
    edges = torch.linspace(
        float(hertz_to_mel(VGGISH_FMIN)), float(hertz_to_mel(VGGISH_FMAX)), VGGISH_MEL_BANDS + 2, dtype=torch.float64
    )
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = torch.minimum(rising, falling).clamp_min(0.0)
    weights[0, :] = 0.0  # HTK leaves out the DC bin
    return weights


def _periodic_hann(n: int) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)
    return 0.5 - 0.5 * torch.cos(2.0 * math.pi * k / n)


def vggish_logmel(waveform: torch.Tensor, full_examples: bool = True) -> torch.Tensor:
    """Waveform (B, N) or (N,) at 16 kHz in [-1, 1] -> log-mel (B, 1, 64, frames) float32.

    With `full_examples` (default) the frames are cut to a multiple of 96, as VGGish's
    example framing drops the incomplete tail; fewer than 96 frames is an error.
    """
    x = torch.as_tensor(waveform)
    if x.dim() == 1:
        x = x[None]
    if x.dim() != 2:
        raise ValueError(f"vggish_logmel expects a (B, N) waveform, got shape {tuple(x.shape)}")
    if x.shape[-1] < VGGISH_WINDOW:
        raise ValueError(f"waveform of {x.shape[-1]} samples is shorter than one {VGGISH_WINDOW}-sample frame")
    # float64 like the numpy reference; the cost is negligible next to the network
    frames = x.to(torch.float64).unfold(-1, VGGISH_WINDOW, VGGISH_HOP) * _periodic_hann(VGGISH_WINDOW).to(x.device)
    spec = torch.fft.rfft(frames, n=VGGISH_N_FFT).abs()
    logmel = torch.log(spec @ vggish_mel_matrix().to(x.device) + VGGISH_LOG_OFFSET)  # (B, frames, 64)
    if full_examples:
        n = logmel.shape[1] // VGGISH_EXAMPLE_FRAMES
        if n == 0:
            raise ValueError(
                f"waveform of {x.shape[-1]} samples gives {logmel.shape[1]} frames, fewer than one VGGish example "
                f"({VGGISH_EXAMPLE_FRAMES} frames = {VGGISH_WINDOW + (VGGISH_EXAMPLE_FRAMES - 1) * VGGISH_HOP} samples)"
            )
        logmel = logmel[:, : n * VGGISH_EXAMPLE_FRAMES]
    return logmel.transpose(1, 2).unsqueeze(1).to(torch.float32)


# EZ-VSL's audio input (stoneMo/EZ-VSL datasets.py): scipy.signal.spectrogram(audio, rate, nperseg=512,
# noverlap=274) with scipy's defaults (periodic Tukey(0.25) window, constant detrend, one-sided PSD
# density scaling), log(x + 1e-7), then Normalize(mean 0, std 12). Re-implemented in torch so that it runs
# on the batch's device; a test holds it to scipy.
EZVSL_NPERSEG, EZVSL_NOVERLAP, EZVSL_LOG_OFFSET, EZVSL_STD = 512, 274, 1e-7, 12.0


def _tukey(n: int, alpha: float = 0.25) -> torch.Tensor:
    """scipy.signal.get_window(('tukey', alpha), n): the periodic window (a symmetric one of n + 1, last dropped)."""
    m = n + 1
    k = torch.arange(m, dtype=torch.float64)
    width = alpha * (m - 1) / 2.0
    w = torch.ones(m, dtype=torch.float64)
    rise, fall = k < width, k > (m - 1) - width
    w[rise] = 0.5 * (1 + torch.cos(math.pi * (-1 + 2.0 * k[rise] / alpha / (m - 1))))
    w[fall] = 0.5 * (1 + torch.cos(math.pi * (-2.0 / alpha + 1 + 2.0 * k[fall] / alpha / (m - 1))))
    return w[:n]


def ezvsl_log_spectrogram(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Waveform (B, N) or (B, 1, N) -> EZ-VSL's normalised log spectrogram (B, 1, 257, frames), float32."""
    x = torch.as_tensor(waveform)
    if x.dim() == 3:
        x = x[:, 0]
    if x.dim() != 2 or x.shape[-1] < EZVSL_NPERSEG:
        raise ValueError(f"EZ-VSL's spectrogram needs a (B, N>={EZVSL_NPERSEG}) waveform, got {tuple(x.shape)}")
    window = _tukey(EZVSL_NPERSEG).to(x.device)
    frames = x.to(torch.float64).unfold(-1, EZVSL_NPERSEG, EZVSL_NPERSEG - EZVSL_NOVERLAP)
    frames = (frames - frames.mean(-1, keepdim=True)) * window  # detrend='constant', then the window
    psd = torch.fft.rfft(frames).abs().square() / (sample_rate * window.square().sum())
    psd[..., 1:-1] *= 2  # one-sided: every bin but DC and Nyquist (even nperseg) counts twice
    spec = torch.log(psd + EZVSL_LOG_OFFSET) / EZVSL_STD
    return spec.transpose(1, 2).unsqueeze(1).to(torch.float32)
