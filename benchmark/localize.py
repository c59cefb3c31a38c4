"""Localize the sound in one image-audio pair with a trained method and save an overlay.

    python -m benchmark.localize --method xpl --checkpoint results/.../seed0/best_model.pt \\
        --image frame.jpg --audio clip.wav --out overlay.png

The run's `run.json` beside the checkpoint (or --run-json) gives the method, its config and the model;
without one, the run record the runner saves inside best_model.pt does; a checkpoint with neither is
refused (its method cannot be confirmed).

    python -m benchmark.localize --method xpl --checkpoint results/.../seed0/best_model.pt \
        --export-predictions preds.npz [--domain flickr]
    python -m benchmark.localize --method center --profile smoke --export-predictions preds.npz --domain flickr

writes the method's maps of a whole test set (the run's first unless --domain) in `benchmark.score`'s format:
scored there, they give the run's metrics.json numbers (computed on the CPU: a run scored on a GPU can differ in
the last bits). Floors (center, random) need no checkpoint.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

import methods
from benchmark.checkpoint import WEIGHTS_RECORD
from benchmark.data.adapters import build_data
from benchmark.data.domains import load_domain
from benchmark.data.real_common import DataError
from benchmark.data.real_media import load_frame
from benchmark.data.splits import SplitError
from benchmark.data.store import StoreError
from benchmark.evaluate import compute_maps
from benchmark.figures import draw_heat, plt, save
from benchmark.io import read_json, unwritable
from benchmark.predictions import split_ids, write_predictions
from benchmark.suites import Budget, check_model_section, load_profile, role_specs
from methods.base import load_method_config
from methods.config import ConfigError, build_config, given


class InputError(ValueError):
    pass


def load_image(path: Path, size: int) -> torch.Tensor:
    """(1, 3, size, size) uint8, decoded and resized as the stores do."""
    return torch.from_numpy(load_frame(path, size))[None]


def run_record(run_json: Path) -> dict:
    try:
        run = read_json(run_json)["config"]
        if not isinstance(run["method"], str) or not isinstance(run["model"], dict):
            raise TypeError("method or model malformed")
        return run
    except OSError as err:
        raise InputError(f"{run_json}: cannot read ({err.strerror or err})") from None
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{run_json}: not a valid run.json ({type(err).__name__}: {err}); pass the run's own "
                         "with --run-json PATH") from None


def build(method_name: str, checkpoint: Path | None, profile: str, run_json: Path | None = None):
    """(method with its weights loaded, the run's resolved config: or the profile's for a floor).

    The checkpoint's method and config come from the run's run.json (`run_json`, default beside the
    checkpoint), else from the record the runner saves inside best_model.pt; a checkpoint with neither is
    refused: its method cannot be confirmed."""
    cls = methods.get_method(method_name)
    prof = load_profile(profile)
    model = role_specs(check_model_section(prof.model, profile), cls.model_roles)
    config = {"model": model, "data": given(prof.data), "method_config": None, "profile": profile,
              "dataset": prof.data.source, "budget": given(prof.budget), "tests": None}
    if not cls.trainable:  # floors: nothing to load
        if checkpoint is not None:
            raise InputError(f"method {method_name!r} has no trained weights to load")
        method = cls(load_method_config(cls, None), config["model"])
        method.attach(method.build_models())
        return method, config
    if checkpoint is None:
        raise InputError(f"method {method_name!r} needs --checkpoint (a run's best_model.pt)")
    run_json = run_json or checkpoint.parent / "run.json"
    run = run_record(run_json) if run_json.exists() else None
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{checkpoint}: checkpoint not found") from None
    except Exception as err:  # truncated or not a torch file
        raise InputError(f"{checkpoint}: cannot read checkpoint ({err})") from None
    record = state.pop(WEIGHTS_RECORD, None) if isinstance(state, dict) else None
    if run is None:
        if not (isinstance(record, dict) and isinstance(record.get("method"), str)):
            raise InputError(f"{checkpoint}: cannot confirm which method these weights are of: no {run_json.name} "
                             "beside it and no run record in it; pass the run's run.json with --run-json PATH")
        run, run_json = record, f"{checkpoint} (its run record)"
    if run["method"] != method_name:
        raise InputError(f"{run_json}: the checkpoint is of method {run['method']!r}, not {method_name!r}")
    if set(run["model"]) != set(cls.model_roles):
        raise InputError(f"{run_json}: records model {sorted(run['model'])}, not the model roles "
                         f"{list(cls.model_roles)} of {method_name} (written before model roles): retrain the run")
    method = cls(load_method_config(cls, run["method_config"]), run["model"])
    models = method.build_models()
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
    return method, run


def run_test_set(config: dict, domain: str | None, data_root: Path | None = None) -> tuple[str, object]:
    """(name, data) of the run's test set `domain` (default: its first)."""
    name = domain or (config["tests"] or [None])[0]
    if name is None:
        raise InputError("--domain is needed (which test set)")
    return name, load_domain(build_data(config["data"], "the run's data"), config["profile"], name, data_root)


def cpu_test_maps(method, variant: str, config: dict, data, audio_rows: list[int] | None = None) -> torch.Tensor:
    """`variant`'s maps of every test row of `data`, computed on the CPU in one process at the run's eval batch
    size (`audio_rows`: each image heard with another row's audio, as compute_maps)."""
    one_process = SimpleNamespace(process_index=0, num_processes=1, device=torch.device("cpu"),
                                  is_local_main_process=True)
    batch_size = build_config(Budget, config["budget"], "the run's budget").eval_batch_size
    return compute_maps(method, data, data.rows["test"], [variant], one_process, batch_size,
                        audio_rows=audio_rows)[variant]


def export_predictions(method, variant: str, config: dict, domain: str | None, path: Path,
                       data_root: Path | None = None) -> int:
    """Write the test maps of `domain` (default: the run's first test set) to `path`; returns their number."""
    _, data = run_test_set(config, domain, data_root)
    maps = cpu_test_maps(method, variant, config, data)
    write_predictions(path, split_ids(data), maps.numpy())
    return len(maps)


def overlay(image: torch.Tensor, heat: torch.Tensor, out: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(3, 3))
    draw_heat(ax, image[0].permute(1, 2, 0).numpy(), heat)
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    save(fig, out, dpi=120)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True)
    p.add_argument("--checkpoint", type=Path, help="a run's best_model.pt (not for the floors)")
    p.add_argument("--image", type=Path)
    p.add_argument("--audio", type=Path, help="WAV (any rate; resampled, mixed to mono)")
    p.add_argument("--out", type=Path, help="the overlay PNG")
    p.add_argument("--profile", default="default", help="for the floors (a checkpoint's run gives its own)")
    p.add_argument("--run-json", type=Path, help="the checkpoint's run.json (default: beside the checkpoint)")
    p.add_argument("--variant", help="which map (default: the method's headline map)")
    p.add_argument("--export-predictions", type=Path, metavar="PATH",
                   help="write a whole test set's maps (benchmark.score's .npz) instead of an overlay")
    p.add_argument("--domain", help="with --export-predictions: the test set (default: the run's first)")
    p.add_argument("--data-root", type=Path, help="with --export-predictions: folder of the real-data stores")
    args = p.parse_args(argv)
    if args.export_predictions is None and None in (args.image, args.audio, args.out):
        p.error("--image, --audio and --out are required (or --export-predictions)")
    try:
        for flag, target in (("--out", args.out), ("--export-predictions", args.export_predictions)):
            problem = unwritable(target.parent) if target is not None else None
            if problem:
                raise InputError(f"{flag} {target}: {problem}")
        method, config = build(args.method, args.checkpoint, args.profile, args.run_json)
        variant = args.variant or method.report_variants()[0]
        if variant not in method.report_variants():
            raise InputError(f"{args.method} has no variant {variant!r}; it has {method.report_variants()}")
        if args.export_predictions is not None:
            n = export_predictions(method, variant, config, args.domain, args.export_predictions, args.data_root)
            print(f"wrote {n} maps to {args.export_predictions}")
            return 0
        image = load_image(args.image, config["data"]["image_size"])
        audio = build_data(config["data"], "the run's data").audio_columns(args.audio)
        heat = method.localize({"image": image, **audio, "index": torch.zeros(1, dtype=torch.long)}, variant)
    except (InputError, ConfigError, DataError, SplitError, StoreError, methods.UnknownMethodError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        overlay(image, heat[0], args.out, f"{args.method} [{variant}]")
    except OSError as err:  # names the file (benchmark.io)
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
