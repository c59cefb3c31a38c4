"""Checking and decoding the real datasets' JPEG frames and WAV tracks; every failure is a DataError naming the file.

Header checks (`check_image`, `check_wav`) are cheap, for reading a tree; the decoders (`load_frame`,
`load_centre_clip`) catch what only a full decode finds (a truncated JPEG). Tracks are resampled with soxr (bounded
memory for any pair of rates, e.g. 44,056 Hz) to 16 kHz (VGGish) and 22.05 kHz (SoundNet), since the field's copies
differ; `require_rate` makes any other source rate an error instead.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from PIL import Image, UnidentifiedImageError

from benchmark.data.real_common import DataError, media_paths

CLIP_SECONDS = 3.0  # EZ-VSL: a 3 s clip from the centre of the track


def check_image(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            size = im.size
    except FileNotFoundError:
        raise DataError(path, "image file not found") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise DataError(path, f"cannot read image ({err})") from None
    if min(size) <= 0:
        raise DataError(path, f"image has size {size}")
    return size


def check_wav(path: Path, require_rate: int | None = None) -> int:
    """The track's sample rate, after checking that it opens, is not empty and (if asked) has that rate."""
    if not path.exists():
        raise DataError(path, "audio file not found")
    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError, ValueError) as err:
        raise DataError(path, f"cannot read audio ({err})") from None
    if info.frames <= 0:
        raise DataError(path, "audio is empty")
    _check_rate(path, info.samplerate, require_rate)
    return int(info.samplerate)


def checked_media(root: Path, key: str, check_media: bool, require_rate: int | None) -> tuple[Path, Path]:
    """A sample's frame and track, with their headers checked unless the caller decodes them anyway."""
    image, audio = media_paths(root, key)
    if check_media:
        check_image(image)
        check_wav(audio, require_rate)
    return image, audio


def _check_rate(path, rate: int, require_rate: int | None) -> None:
    if require_rate is not None and rate != require_rate:
        raise DataError(path, f"sample rate {rate} Hz, but {require_rate} Hz is required (resampling is off)")


def to_rgb8(im):
    """An opened image as 8-bit RGB. Pillow opens a 16-bit grayscale PNG as mode I;16 (or I), and its
    convert("RGB") clips every value above 255 to white: scale by the real bit depth instead."""
    if im.mode.startswith("I;16") or (im.mode == "I" and im.format == "PNG"):
        wide = np.asarray(im, dtype=np.float64) / 257.0  # 65535 -> 255
        im = Image.fromarray(np.clip(np.round(wide), 0, 255).astype(np.uint8), "L")
    return im.convert("RGB")


def load_frame(path: Path, size: int) -> np.ndarray:
    """uint8 (3, size, size): RGB, bicubic resize, no crop (docs/methods.md §1.2)."""
    try:
        with Image.open(path) as im:
            im.load()  # full decode: a truncated JPEG fails here, not at open
            rgb = to_rgb8(im).resize((size, size), Image.BICUBIC)
    except FileNotFoundError:
        raise DataError(path, "image file not found") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise DataError(path, f"cannot read image ({err})") from None
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1).copy()


def load_centre_clip(path: Path, rates: tuple[int, ...], seconds: float = CLIP_SECONDS,
                     require_rate: int | None = None) -> tuple[dict[int, np.ndarray], int]:
    """({rate: float32 (round(seconds*rate),)}, source rate): mono, clipped to [-1, 1], the
    centre `seconds` of the track; a shorter track is repeated to length (EZ-VSL)."""
    if not path.exists():
        raise DataError(path, "audio file not found")
    try:
        with sf.SoundFile(str(path)) as f:  # read only the centre: Flickr tracks run to minutes
            sr, total = int(f.samplerate), int(f.frames)
            _check_rate(path, sr, require_rate)
            n = int(round(seconds * sr))
            if total > n:
                f.seek((total - n) // 2)
            wav = f.read(min(n, total) if total > 0 else -1, dtype="float32", always_2d=True)
    except DataError:
        raise
    except (RuntimeError, OSError, ValueError) as err:
        raise DataError(path, f"cannot read audio ({err})") from None
    if wav.size == 0:
        raise DataError(path, "audio is empty")
    if not np.isfinite(wav).all():
        raise DataError(path, "audio contains NaN or Inf")
    x = np.clip(wav, -1.0, 1.0).mean(1)
    if len(x) < n:  # shorter than the clip: repeat it (EZ-VSL)
        x = np.tile(x, math.ceil(n / len(x)))[:n]
    out = {}
    for rate in rates:
        y = soxr.resample(np.ascontiguousarray(x, dtype=np.float32), sr, rate, quality="HQ") if rate != sr else x
        want = int(round(seconds * rate))
        y = np.pad(y, (0, max(0, want - len(y))))[:want]  # resampling can be off by one
        out[rate] = np.ascontiguousarray(y, dtype=np.float32)
    return out, int(sr)
