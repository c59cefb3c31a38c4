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

import torch
import torch.nn.functional as F
import yaml

import methods
from benchmark.data.real_common import DataError
from benchmark.io import read_json
from benchmark.suites import PROFILES_PATH
from methods.base import load_method_config


class InputError(ValueError):
    pass


def load_image(path: Path, size: int) -> torch.Tensor:
    """(1, 3, size, size) uint8, decoded and resized as the stores do."""
    from benchmark.data.real_media import load_frame

    return torch.from_numpy(load_frame(path, size))[None]


def load_audio(path: Path, data_cfg: dict) -> dict[str, torch.Tensor]:
    """The batch's audio columns for one WAV (any rate, mixed to mono, centre clip), computed as the
    profile's store computes them: log-mel and the waveform at the profile's rate for the synthetic profiles
    (both rounded to float16 as stored); VGGish log-mel (16 kHz) and the 22.05 kHz waveform (SoundNet) for
    the real-data ones."""
    from benchmark.data.real_media import load_centre_clip

    if data_cfg.get("source", "synthetic") == "synthetic":
        from benchmark.data.features import logmel

        rate = data_cfg["sample_rate"]
        clips, _ = load_centre_clip(path, (rate,), data_cfg["clip_seconds"])
        wave = torch.as_tensor(clips[rate])[None]
        return {"audio": logmel(wave, rate).half().float(), "waveform": wave[:, None].half().float()}
    from benchmark.data.real_store import audio_columns
    from methods.common.audio_frontends import SOUNDNET_SAMPLE_RATE, VGGISH_SAMPLE_RATE

    clips, _ = load_centre_clip(path, (VGGISH_SAMPLE_RATE, SOUNDNET_SAMPLE_RATE), data_cfg["clip_seconds"])
    return audio_columns([clips])


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
        audio = load_audio(args.audio, data_cfg)
        variant = args.variant or method.report_variants()[0]
        if variant not in method.report_variants():
            raise InputError(f"{args.method} has no variant {variant!r}; it has {method.report_variants()}")
        heat = method.localize({"image": image, **audio, "index": torch.zeros(1, dtype=torch.long)}, variant)
    except (InputError, DataError, methods.UnknownMethodError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    overlay(image, heat[0], args.out, f"{args.method} [{variant}]")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
