"""Score a method's maps on a split: rows sharded over processes, per-sample maps gathered (padding cut), metrics
once, so N processes give exactly the 1-process numbers; `evaluate_tests` scores a trained run's test sets."""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from benchmark import metrics, negatives
from benchmark.data.domains import DomainData
from benchmark.data.negative_pairs import NegativePairs
from methods.common.localizer import AUDIO_KEYS


def _shard(rows: list[int], rank: int, world: int) -> tuple[list[int], list[int]]:
    per = -(-len(rows) // world)
    blocks = [rows[r * per:(r + 1) * per] for r in range(world)]
    return blocks[rank], [len(b) for b in blocks]


RAW = "raw"  # compute_maps' name for the method's raw_map (docs/protocol.md §8)


@torch.no_grad()
def compute_maps(method, domain: DomainData, rows: list[int], variants: list[str], accelerator,
                 batch_size: int, desc: str = "eval", audio_rows: list[int] | None = None,
                 batch_filter=None, pair_audio=None) -> dict[str, torch.Tensor]:
    """{variant: (len(rows), h, w) float32 maps on CPU}, in the order of `rows`; the variant RAW is the
    method's `raw_map` (no per-sample normalisation).

    `audio_rows` pairs each image with another row's audio (the shuffled-audio control); `pair_audio(positions)`
    gives the audio columns of the pairs at those positions of `rows` (negative pairs); `batch_filter`
    maps each batch before `localize` sees it (the trainer's maps withhold the labels).
    """
    if audio_rows is not None:
        pair_audio = _stored_audio(domain, audio_rows)
    rank, world = accelerator.process_index, accelerator.num_processes
    mine, lengths = _shard(rows, rank, world)
    mine_pos = _shard(list(range(len(rows))), rank, world)[0]
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
        if pair_audio is not None:
            pos = mine_pos[start:start + batch_size]
            other = pair_audio(pos + [pos[-1] if pos else 0] * (len(chunk) - len(pos)))
            batch.update({k: other[k] for k in AUDIO_KEYS if k in batch})
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        if batch_filter is not None:
            batch = batch_filter(batch)
        for v in variants:
            out[v].append((method.raw_map(batch) if v == RAW else method.localize(batch, v)).float())
    for m in method.models.values():
        m.train()
    result = {}
    for v in variants:
        local = torch.cat(out[v]) if out[v] else torch.empty(0)
        gathered = accelerator.gather(local.contiguous()).cpu() if world > 1 else local.cpu()
        blocks = gathered.view(world, per, *gathered.shape[1:]) if world > 1 else gathered[None]
        result[v] = torch.cat([blocks[r, :n] for r, n in enumerate(lengths)])
    return result


def _stored_audio(domain: DomainData, audio_rows: list[int]):
    def columns(positions: list[int]) -> dict:
        return domain.table.get([audio_rows[p] for p in positions])
    return columns


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


def evaluate_negatives(method, data: DomainData, pairs: NegativePairs, accelerator, batch_size: int) -> dict:
    """SLAVC's joint-set numbers (benchmark/negatives.py, docs/protocol.md §8) of the method's raw map on the
    test positives of `data` and the negative `pairs`: each map upsampled bicubically to the GT's size,
    rescaled with the method's fixed `raw_range`, then confidence and cIoU per pair."""
    rows = data.rows["test"]
    pos = compute_maps(method, data, rows, [RAW], accelerator, batch_size, desc="negatives: positives")[RAW]
    neg = compute_maps(method, data, list(pairs.image_rows), [RAW], accelerator, batch_size,
                       desc="negatives: negatives", pair_audio=pairs.columns)[RAW]
    gts = data.table.get(rows)["gt"]
    size = gts.shape[-1]
    lo, hi = method.raw_range
    confs, cious = [], []
    for k, raw in enumerate([*pos, *neg]):
        scores = negatives.fixed_range(negatives.upsample(raw, size), lo, hi)
        conf, c = negatives.pair_scores(scores, gts[k] if k < len(rows) else None, k < len(rows))
        confs.append(conf)
        cious.append(c)
    is_pos = [True] * len(rows) + [False] * len(neg)
    numbers = negatives.set_metrics(is_pos, cious, confs, ["sounding"] * len(rows) + list(pairs.types))
    numbers.update(n_positive=len(rows), n_negative=len(neg), negatives_left_out=pairs.left_out,
                   pairs_sha256=pairs.digest,
                   confidence_positive=float(np.mean(confs[:len(rows)])),
                   confidence_negative={t: float(np.mean([c for c, tt in zip(confs[len(rows):], pairs.types) if tt == t]))
                                        for t in dict.fromkeys(pairs.types)})
    return numbers


def evaluate_tests(method, tests: dict[str, DomainData], accelerator,
                   eval_batch_size: int, negative_sets: dict[str, NegativePairs] | None = None) -> tuple[dict, list, dict]:
    """Score every variant on each test set once, and the headline's raw map with the negative pairs of the tests
    in `negative_sets`. Returns (numbers, per-sample rows, previews): the previews are the scored low-resolution
    maps of the first PREVIEW_SAMPLES test samples, for figures."""
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
        if negative_sets and test_name in negative_sets:
            numbers[test_name][variants[0]]["negatives"] = evaluate_negatives(
                method, data, negative_sets[test_name], accelerator, eval_batch_size)
    return numbers, per_sample, previews
