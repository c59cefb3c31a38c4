"""A class-pretrained visual encoder for the synthetic profiles: the analogue of the papers' ImageNet weights.

    python -m benchmark.pretrain --profile bench --out weights/light_cnn-bench.safetensors
    python run_all.py --suite table1 --profile bench_pretrained --weights light_cnn=weights/light_cnn-bench.safetensors

The bench build is committed (datasets/synthetic/pretrained/light_cnn-bench.safetensors, with its report): a
build repeats bit for bit only on the CPU kind that ran it, and the committed file lets every machine run the
same `bench_pretrained` runs (docs/protocol.md §7).

XPL's paper: "They all loaded pre-trained parameters" (Sec. 3.1); EZ-VSL, SLAVC and FNAC start from an
ImageNet ResNet-18 too. The synthetic profiles train from scratch, where the self-supervised methods' max over the
map can lock onto the border (docs/methods.md §6). This builds the profile's `light_cnn` trained to name the
object classes in synthetic images, as ImageNet training names objects: no boxes, no sounds, and images of a pool
disjoint from every split (sample ids from POOL_BASE on), half from each domain. Multi-label (an image holds
several objects), binary cross-entropy through a global average pool and a linear layer, which is dropped.
Deterministic for given settings; the file and a report beside it (`<out>.json`: settings, held-out accuracy,
sha256) are written atomically. docs/protocol.md §7.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from benchmark.data import synthetic
from benchmark.data.adapters import adapter_for
from benchmark.data.splits import load_split
from benchmark.data.synthetic import SPLITS
from benchmark.io import atomic_path, write_json_atomic
from benchmark.suites import load_profile
from methods.common.augment import normalize
from methods.common.backbones import LightVisualCNN
from methods.common.weights import file_sha256

POOL_BASE = 50_000_000  # pretraining sample ids start here; the split lists' ids are far below


@dataclass(frozen=True)
class PretrainSettings:
    pool: int = 8000  # images, half per domain; the last tenth is held out to report accuracy
    steps: int = 2000
    batch: int = 128
    lr: float = 1e-3  # Adam
    seed: int = 0


def pool_images(n: int, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 3, S, S) uint8 images, half per domain, with their (n, classes) multi-hot object labels."""
    images, labels = [], []
    for domain in synthetic.DOMAINS:
        for k in range(n // 2):
            s = synthetic.make_sample(domain, POOL_BASE + k, image_size=image_size)
            images.append(s["image"])
            y = np.zeros(synthetic.NUM_CLASSES, np.float32)
            y[s["object_classes"]] = 1
            labels.append(y)
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(np.stack(labels))


def pretrain(visual_spec: dict, image_size: int, settings: PretrainSettings, log=print) -> tuple[dict, dict]:
    """(the encoder's state dict, the report) for a `light_cnn` spec."""
    spec = {k: v for k, v in visual_spec.items() if k not in ("type", "weights")}
    if visual_spec.get("type") != "light_cnn":
        raise ValueError(f"pretraining builds light_cnn encoders only; the profile's visual is {visual_spec}")
    if settings.pool < 4:
        raise ValueError(f"pool must hold at least 4 images, not {settings.pool}")
    images, labels = pool_images(settings.pool, image_size)
    n_train = int(0.9 * len(images))
    torch.manual_seed(settings.seed)
    net = LightVisualCNN(**spec)
    head = nn.Linear(net.out_channels, synthetic.NUM_CLASSES)
    opt = torch.optim.Adam([*net.parameters(), *head.parameters()], settings.lr)
    gen = torch.Generator().manual_seed(settings.seed)
    logits = lambda x: head(net(normalize(x)).mean((2, 3)))  # noqa: E731
    for step in range(settings.steps):
        idx = torch.randint(0, n_train, (settings.batch,), generator=gen)
        flip = torch.rand(settings.batch, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], images[idx].flip(-1), images[idx])
        loss = F.binary_cross_entropy_with_logits(logits(x), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 500 == 0:
            log(f"step {step + 1}/{settings.steps}: loss {loss.item():.4f}")
    with torch.no_grad():
        held = (logits(images[n_train:]) > 0).float() == labels[n_train:]
    report = {"backbone": visual_spec, "image_size": image_size, "settings": asdict(settings),
              "pool_ids": {d: [POOL_BASE, POOL_BASE + settings.pool // 2 - 1] for d in synthetic.DOMAINS},
              "held_out": {"images": int(held.shape[0]), "all_classes_right": round(float(held.all(1).float().mean()), 4),
                           "per_class_accuracy": round(float(held.float().mean()), 4)}}
    return {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}, report


def check_disjoint(profile: str) -> None:
    """Every split id of the profile's lists is below POOL_BASE, so no pretraining image is a split's."""
    prof = load_profile(profile)
    for domain in synthetic.DOMAINS:
        for split in SPLITS:
            ids, _ = load_split("synthetic", prof.data.splits or profile, domain, split)
            if ids and max(int(i) for i in ids) >= POOL_BASE:
                raise ValueError(f"profile {profile}: {domain} {split} has ids from {POOL_BASE} on, the pretraining pool")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", required=True, help="a synthetic profile whose visual backbone is light_cnn")
    parser.add_argument("--out", type=Path, required=True, help="the weights file to write (.safetensors)")
    for name, default in asdict(PretrainSettings()).items():
        parser.add_argument(f"--{name}", type=type(default), default=default)
    args = parser.parse_args(argv)
    settings = PretrainSettings(**{k: getattr(args, k) for k in asdict(PretrainSettings())})
    try:
        prof = load_profile(args.profile)
        for domain in synthetic.DOMAINS:  # the domains the pool draws from, as the profile's data serves them
            adapter_for(prof.data, domain).require("class_pretraining", "class-pretraining images",
                                                   "; use the real pretrained files (--weights)")
        check_disjoint(args.profile)
        state, report = pretrain(prof.model["visual"], prof.data.image_size, settings)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as tmp:
        save_file(state, str(tmp))
    report["sha256"] = file_sha256(args.out)
    write_json_atomic(args.out.with_name(args.out.name + ".json"), report)
    print(f"{args.out}: held-out images with every class right {100 * report['held_out']['all_classes_right']:.1f} %, "
          f"per class {100 * report['held_out']['per_class_accuracy']:.1f} %; sha256 {report['sha256'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
