"""Loading pretrained backbone weights from a local file the user names (docs/methods.md §1.3).

Never downloads; anything but an exact match is refused with the file, keys and shapes named. The record (path,
sha256, tensor count) goes into run.json; a module built without weights keeps `pretrained = None`.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Iterable, Mapping

import torch
from safetensors.torch import load_file
from torch import nn

# BatchNorm's step counter is only used with momentum=None; older files lack it.
_OPTIONAL_SUFFIXES = ("num_batches_tracked",)


class WeightsError(ValueError):
    """A pretrained-weights file that cannot be used as it is."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_state_dict(path: str | Path, what: str = "weights") -> dict[str, torch.Tensor]:
    """Tensors of a .pth/.pt (weights_only) or .safetensors file, on CPU."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"{what} weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path), device="cpu")
        else:
            # weights_only: a pickle may not run code; whole pickled modules are refused too
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any reader failure means the same to the user
        raise WeightsError(f"cannot read {what} weights file {path}: {type(e).__name__}: {e}") from e
    # common checkpoint wrappers: {"state_dict": {...}} / {"model": {...}}
    if isinstance(state, Mapping):
        for wrapper in ("state_dict", "model"):
            if isinstance(state.get(wrapper), Mapping) and not any(torch.is_tensor(v) for v in state.values()):
                state = state[wrapper]
                break
    if not isinstance(state, Mapping) or not state:
        raise WeightsError(f"{what} weights file {path} holds no state dict (got {type(state).__name__})")
    bad = [k for k, v in state.items() if not torch.is_tensor(v)]
    if bad:
        raise WeightsError(f"{what} weights file {path}: non-tensor entries {_few(bad)}")
    return dict(state)


def load_pretrained(
    module: nn.Module,
    path: str | Path,
    key_map: Mapping[str, str] | Callable[[str], str] | None = None,
    ignore: Iterable[str] = (),
    what: str = "weights",
    adapt: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
) -> dict:
    """Load `path` into `module` exactly, or raise WeightsError.

    key_map: file key -> module key (dict: keys absent from it stay as they are).
    ignore: file-key prefixes that are not part of the module (e.g. a classifier).
    adapt(module_key, tensor): a layout change the port needs (e.g. squeeze a conv dim).
    Returns {"what", "path", "sha256", "n_tensors"} and sets `module.pretrained` to it.
    """
    path = Path(path).expanduser().resolve()
    state = read_state_dict(path, what)
    ignore = tuple(ignore)
    if key_map is None:
        rename = lambda k: k  # noqa: E731
    elif callable(key_map):
        rename = key_map
    else:
        rename = lambda k: key_map.get(k, k)  # noqa: E731

    expected = module.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    unexpected, mismatched, seen = [], [], set()
    for key, tensor in state.items():
        if key.startswith(ignore):
            continue
        target = rename(key)
        if target not in expected:
            unexpected.append(key if target == key else f"{key} (-> {target})")
            continue
        seen.add(target)
        found = adapt(target, tensor) if adapt is not None else tensor
        if tuple(found.shape) != tuple(expected[target].shape):
            raw = "" if found is tensor else f" (as stored: {tuple(tensor.shape)})"
            mismatched.append(
                f"{key}: expected {tuple(expected[target].shape)}, found {tuple(found.shape)}{raw}"
            )
            continue
        mapped[target] = found
    missing = [k for k in expected if k not in seen and not k.endswith(_OPTIONAL_SUFFIXES)]

    problems = []
    if mismatched:
        problems.append("shape mismatch: " + "; ".join(mismatched))
    if missing:
        problems.append(f"missing keys {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_few(unexpected)}")
    if problems:
        raise WeightsError(f"{what} weights file {path} does not fit the model: " + " | ".join(problems))

    module.load_state_dict(mapped, strict=False)
    record = {"what": what, "path": str(path), "sha256": file_sha256(path), "n_tensors": len(mapped)}
    module.pretrained = record
    return record


def pretrained_records(model: nn.Module) -> dict[str, dict | None]:
    """{submodule name: load record or None} for every submodule that can take weights."""
    return {name or "<root>": m.pretrained for name, m in model.named_modules() if hasattr(m, "pretrained")}


def _few(keys: list[str], n: int = 8) -> str:
    shown = ", ".join(keys[:n])
    return f"[{shown}{f', ... ({len(keys)} in all)' if len(keys) > n else ''}]"
