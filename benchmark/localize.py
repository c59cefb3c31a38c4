"""Localize the sound in one image-audio pair with a trained method and save an overlay.

    python -m benchmark.localize --method xpl --checkpoint results/.../seed0/best_model.pt \\
        --image frame.jpg --audio clip.wav --out overlay.png

The run's `run.json` beside the checkpoint (if present) gives the method config and model;
otherwise the method's config and the profile's model are used.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

import methods
from benchmark.io import read_json
from benchmark.suites import PROFILES_PATH
from methods.base import load_method_config


class InputError(ValueError):
    pass


def load_image(path: Path, size: int) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB").resize((size, size), Image.BICUBIC)
    except FileNotFoundError:
        raise InputError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(f"{path}: cannot read image ({err})") from None
    return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)[None]


def load_audio(path: Path, sample_rate: int, seconds: float) -> torch.Tensor:
    import soundfile as sf
    import torchaudio

    from benchmark.data.features import logmel

    if not path.is_file():
        raise InputError(f"{path}: audio file not found")
    try:
        wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise InputError(f"{path}: cannot read audio ({err})") from None
    if wav.size == 0:
        raise InputError(f"{path}: audio is empty")
    if not np.isfinite(wav).all():
        raise InputError(f"{path}: audio contains NaN or Inf")
    x = torch.from_numpy(wav.mean(1))  # mono
    if sr != sample_rate:
        x = torchaudio.functional.resample(x, sr, sample_rate)
    n = int(round(seconds * sample_rate))
    if x.numel() >= n:  # centre clip, as EZ-VSL takes the centre of the track
        start = (x.numel() - n) // 2
        x = x[start:start + n]
    else:
        x = F.pad(x, (0, n - x.numel()))
    return logmel(x[None], sample_rate)


def build(method_name: str, checkpoint: Path, profile: str):
    cls = methods.get_method(method_name)
    if not cls.trainable:
        raise InputError(f"method {method_name!r} has no trained weights to load")
    run_json = checkpoint.parent / "run.json"
    prof = yaml.safe_load(PROFILES_PATH.read_text())[profile]
    model_spec, data_cfg, cfg_values = prof["model"], prof["data"], None
    if run_json.exists():
        run = read_json(run_json)["config"]
        if run["method"] != method_name:
            raise InputError(f"{run_json}: the checkpoint is of method {run['method']!r}, not {method_name!r}")
        model_spec, data_cfg, cfg_values = run["model"], run["data"], run["method_config"]
    method = cls(load_method_config(cls, cfg_values), model_spec)
    models = method.build_models()
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{checkpoint}: checkpoint not found") from None
    except Exception as err:  # truncated or not a torch file
        raise InputError(f"{checkpoint}: cannot read checkpoint ({err})") from None
    if not isinstance(state, dict) or set(state) != set(models):
        raise InputError(f"{checkpoint}: expected weights of models {sorted(models)}, found "
                         f"{sorted(state) if isinstance(state, dict) else type(state).__name__}")
    for k, m in models.items():
        try:
            m.load_state_dict(state[k])
        except RuntimeError as err:
            raise InputError(f"{checkpoint}: weights of model {k!r} do not fit {method_name} "
                             f"with this model spec: {str(err).splitlines()[0]}") from None
        m.eval()
    method.attach(models)
    return method, data_cfg


def overlay(image: torch.Tensor, heat: torch.Tensor, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = image.shape[-1]
    m = F.interpolate(heat[None, None].float(), size=(size, size), mode="bilinear", align_corners=True)[0, 0]
    m = (m - m.min()) / (m.max() - m.min()).clamp_min(1e-8)
    fig, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(image[0].permute(1, 2, 0).numpy())
    ax.imshow(m.numpy(), cmap="jet", alpha=0.5)
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True)
    p.add_argument("--checkpoint", required=True, type=Path, help="a run's best_model.pt")
    p.add_argument("--image", required=True, type=Path)
    p.add_argument("--audio", required=True, type=Path, help="WAV (any rate; resampled, mixed to mono)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--profile", default="default", help="used when no run.json is beside the checkpoint")
    p.add_argument("--variant", help="which map (default: the method's headline map)")
    args = p.parse_args(argv)
    try:
        method, data_cfg = build(args.method, args.checkpoint, args.profile)
        image = load_image(args.image, data_cfg["image_size"])
        audio = load_audio(args.audio, data_cfg["sample_rate"], data_cfg["clip_seconds"])
        variant = args.variant or method.report_variants()[0]
        if variant not in method.report_variants():
            raise InputError(f"{args.method} has no variant {variant!r}; it has {method.report_variants()}")
        heat = method.localize({"image": image, "audio": audio, "index": torch.zeros(1, dtype=torch.long)}, variant)
    except (InputError, methods.UnknownMethodError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    overlay(image, heat[0], args.out, f"{args.method} [{variant}]")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
