"""Score a method's maps on a split: rows sharded over processes, per-sample maps gathered (padding cut), metrics
once, so N processes give exactly the 1-process numbers; `evaluate_tests` scores a trained run's test sets."""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from benchmark import metrics
from benchmark.data.domains import DomainData
from methods.common.localizer import AUDIO_KEYS


def _shard(rows: list[int], rank: int, world: int) -> tuple[list[int], list[int]]:
    per = -(-len(rows) // world)
    blocks = [rows[r * per:(r + 1) * per] for r in range(world)]
    return blocks[rank], [len(b) for b in blocks]


@torch.no_grad()
def compute_maps(method, domain: DomainData, rows: list[int], variants: list[str], accelerator,
                 batch_size: int, desc: str = "eval", audio_rows: list[int] | None = None,
                 batch_filter=None) -> dict[str, torch.Tensor]:
    """{variant: (len(rows), h, w) float32 maps on CPU}, in the order of `rows`.

    `audio_rows` pairs each image with another row's audio (the shuffled-audio control); `batch_filter`
    maps each batch before `localize` sees it (the trainer's maps withhold the labels).
    """
    rank, world = accelerator.process_index, accelerator.num_processes
    mine, lengths = _shard(rows, rank, world)
    mine_audio = _shard(audio_rows, rank, world)[0] if audio_rows is not None else None
    per = max(lengths)
    for m in method.models.values():
        m.eval()
    out = {v: [] for v in variants}
    bar = tqdm(range(0, max(per, 1), batch_size), desc=desc, leave=False,
               disable=None if accelerator.is_local_main_process else True)
    for start in bar:
        chunk = mine[start:start + batch_size]
        pad = min(batch_size, per - start) - len(chunk)
        chunk = chunk + [mine[-1] if mine else rows[0]] * pad  # equal shapes for gather
        if not chunk:
            continue
        batch = domain.table.get(chunk)
        if mine_audio is not None:
            audio_chunk = mine_audio[start:start + batch_size]
            other = domain.table.get(audio_chunk + [chunk[-1]] * (len(chunk) - len(audio_chunk)))
            batch.update({k: other[k] for k in AUDIO_KEYS if k in batch})
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        if batch_filter is not None:
            batch = batch_filter(batch)
        for v in variants:
            out[v].append(method.localize(batch, v).float())
    for m in method.models.values():
        m.train()
    result = {}
    for v in variants:
        local = torch.cat(out[v]) if out[v] else torch.empty(0)
        gathered = accelerator.gather(local.contiguous()).cpu() if world > 1 else local.cpu()
        blocks = gathered.view(world, per, *gathered.shape[1:]) if world > 1 else gathered[None]
        result[v] = torch.cat([blocks[r, :n] for r, n in enumerate(lengths)])
    return result


def shuffled_audio_rows(rows: list[int], seed: int = 0) -> list[int]:
    """A fixed derangement: every image gets the audio of a different sample."""
    perm = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed)).tolist()
    partner = [0] * len(rows)
    for k, i in enumerate(perm):
        partner[i] = rows[perm[(k + 1) % len(perm)]]
    return partner


def score(maps: torch.Tensor, domain: DomainData, rows: list[int]) -> dict:
    gt = domain.table.get(rows)["gt"]
    return metrics.evaluate_all(maps, gt)


def summarize(result: dict) -> dict:
    """The JSON-able numbers of an evaluate_all result (per-sample tensors dropped; None: an empty bucket)."""
    return {k: (v if v is None or isinstance(v, str) else float(v)) for k, v in result.items()
            if not isinstance(v, torch.Tensor)}


PREVIEW_SAMPLES = 6  # the first test samples, same for every method: figures compare maps side by side


def evaluate_tests(method, tests: dict[str, DomainData], accelerator,
                   eval_batch_size: int) -> tuple[dict, list, dict]:
    """Score every variant on each test set once. Returns (numbers, per-sample rows, previews): the
    previews are the scored low-resolution maps of the first PREVIEW_SAMPLES test samples, for figures."""
    numbers, per_sample, previews = {}, [], {}
    variants = method.report_variants()
    for test_name, data in tests.items():
        rows = data.rows["test"]
        maps = compute_maps(method, data, rows, variants, accelerator, eval_batch_size, desc=f"test {test_name}")
        previews[test_name] = {
            "sample_ids": [data.table.sample_ids[r] for r in rows[:PREVIEW_SAMPLES]],
            "maps": {v: [[round(x, 5) for x in m.flatten().tolist()] for m in t[:PREVIEW_SAMPLES]]
                     for v, t in maps.items()},
            "shape": list(maps[variants[0]].shape[1:])}
        numbers[test_name] = {}
        ids = [data.table.sample_ids[r] for r in rows]
        for v in variants:
            res = score(maps[v], data, rows)
            numbers[test_name][v] = summarize(res)
            for i, c in zip(ids, res["ciou_per_sample"].tolist()):
                per_sample.append({"test": test_name, "variant": v, "sample_id": i, "ciou": round(c, 6)})
        # Control: the headline map with every image paired with another sample's audio. A method
        # whose score barely drops is localizing objects, not sounds.
        control = compute_maps(method, data, rows, variants[:1], accelerator, eval_batch_size,
                               desc=f"control {test_name}", audio_rows=shuffled_audio_rows(rows))
        numbers[test_name][variants[0]]["shuffled_audio"] = summarize(score(control[variants[0]], data, rows))
    return numbers, per_sample, previews
