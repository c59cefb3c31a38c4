"""Procedurally generated audio-visual source-localization data (numpy only; datasets/synthetic/README.md).

Every sample is a pure function of (domain, sample_id, sizes): 1-3 objects of different classes, one of which
sounds, so a model must use the audio to know which object to point at.
"""
from __future__ import annotations

import functools

import numpy as np

GENERATOR_VERSION = 2
DOMAINS = ("flickr", "vggss")

# shape, colour, rgb, texture, sound.  Shapes/colours/textures are each shared
# by >= 2 classes so only the combination identifies a class.
_CLASSES = (
    ("circle", "red", (215, 45, 40), "stripes", "buzz"),
    ("square", "blue", (45, 85, 215), "plain", "hum"),
    ("triangle", "yellow", (235, 205, 40), "dots", "chirp"),
    ("cross", "green", (40, 175, 70), "checker", "clicks"),
    ("ring", "orange", (245, 135, 30), "plain", "bell"),
    ("diamond", "purple", (150, 55, 190), "stripes", "whistle"),
    ("star", "cyan", (40, 205, 215), "dots", "hiss"),
    ("hexagon", "white", (235, 235, 235), "checker", "drum"),
    ("triangle", "red", (215, 45, 40), "plain", "reed"),
    ("ring", "blue", (45, 85, 215), "stripes", "siren"),
    ("diamond", "green", (40, 175, 70), "dots", "engine"),
    ("star", "yellow", (235, 205, 40), "checker", "beep"),
)
_TEX_ADJ = {"stripes": "striped", "plain": "plain", "dots": "dotted", "checker": "checkered"}
NUM_CLASSES = len(_CLASSES)
CLASS_NAMES = tuple(f"{c}-{_TEX_ADJ[t]}-{s}/{snd}" for s, c, _, t, snd in _CLASSES)
UNHEARD_CLASSES = (3, 5, 8, 11)  # each shares shape/colour/texture with heard classes: novel combos only
HEARD_CLASSES = tuple(c for c in range(NUM_CLASSES) if c not in UNHEARD_CLASSES)

# Class timbres.  Pitch ranges overlap on purpose (buzz/hum/reed, chirp/whistle/
# siren/beep); what separates them is harmonic profile, noise, envelope, modulation.
_SAW = 1.0 / np.arange(1, 41)
_ODD = np.where(np.arange(1, 41) % 2 == 1, 1.0 / np.arange(1, 41), 0.0)
_SOUNDS = (
    dict(f0=(90, 260), harm=_SAW, env="sustain", am=(25, 45, 0.6)),                      # buzz
    dict(f0=(120, 400), harm=[1, 0.3, 0.1], env="sustain", am=(0.5, 2, 0.3)),            # hum
    dict(f0=(900, 2200), harm=[1, 0.15], env="pulse", rate=(4, 8), npulse=(2, 6),
         tau=(0.03, 0.07), glide=(0.6, 1.2)),                                           # chirp
    dict(noise=(2500, 6500, 1.0), env="pulse", rate=(8, 16), npulse=(4, 16),
         tau=(0.004, 0.01)),                                                           # clicks
    dict(f0=(300, 900), ratios=[1, 2.76, 5.40, 8.93], harm=[1, 0.6, 0.4, 0.25],
         env="pulse", rate=(1.5, 3), npulse=(1, 2), tau=(0.15, 0.35)),                 # bell
    dict(f0=(900, 2400), harm=[1, 0.05], vib=(5, 7, 0.03), noise=(800, 3000, 0.15),
         env="sustain"),                                                               # whistle
    dict(noise=(2000, 7000, 1.0), env="sustain", am=(0.5, 3, 0.4)),                     # hiss
    dict(f0=(50, 110), harm=[1, 0.2], drop=(1.0, 2.0), noise=(60, 400, 0.6),
         env="pulse", rate=(2, 5), npulse=(2, 5), tau=(0.05, 0.12)),                   # drum
    dict(f0=(180, 500), harm=_ODD, vib=(4, 6, 0.01), env="sustain"),                    # reed
    dict(f0=(450, 1100), harm=[1, 0.3, 0.1], vib=(0.7, 2, 0.15), env="sustain"),        # siren
    dict(f0=(35, 80), harm=_SAW, noise=(100, 700, 0.5), am=(8, 20, 0.7), env="sustain"),  # engine
    dict(f0=(600, 1500), harm=[1], env="gate", rate=(2, 5), npulse=(2, 8), duty=(0.3, 0.6)),  # beep
)

# Domain knobs.  Class frequencies differ per domain but every class appears.
_DOMAIN_CFG = {
    "flickr": dict(
        class_w=(1.6, 1.4, 1.0, 0.7, 1.2, 0.8, 1.0, 0.6, 1.3, 0.9, 0.7, 1.1),
        n_obj_p=(0.08, 0.74, 0.18), area=(0.29, 0.52), log_area=False, crowd_shrink=0.85,
        max_overlap=0.2, edge_beta=0.4, dup_p=0.0, offscreen_p=0.2, snr=(3.0, 18.0),
        n_blobs=(2, 5), n_lines=(0, 2), pix_noise=6.0, lf_noise=18.0),
    "vggss": dict(
        class_w=(0.7, 0.9, 1.3, 1.2, 0.8, 1.4, 0.9, 1.5, 0.6, 1.2, 1.1, 0.8),
        n_obj_p=(0.04, 0.46, 0.50), area=(0.19, 0.52), log_area=True, crowd_shrink=0.92,
        max_overlap=0.3, edge_beta=0.5, dup_p=0.12, offscreen_p=0.3, snr=(-3.0, 12.0),
        n_blobs=(4, 9), n_lines=(2, 5), pix_noise=10.0, lf_noise=35.0),
}
_MIN_VISIBLE = 0.7  # sounding instances must keep >= 70% of their pixels visible


def _rng(domain: str, sample_id: int, stream: int = 0) -> np.random.Generator:
    """Independent streams (0 scene, 1 annotators, 2 audio) so that e.g. the audio
    does not change with image_size and the layout does not change with the clip."""
    key = [DOMAINS.index(domain), int(sample_id), 12345]
    return np.random.default_rng(key + [stream] if stream else key)


def _draw_classes(rng, domain):
    """First draws of the sample stream: sounding class, then the scene's classes."""
    cfg = _DOMAIN_CFG[domain]
    w = np.asarray(cfg["class_w"]) / np.sum(cfg["class_w"])
    cid = int(rng.choice(NUM_CLASSES, p=w))
    n = 1 + int(rng.choice(3, p=cfg["n_obj_p"]))
    others = np.delete(np.arange(NUM_CLASSES), cid)
    ow = np.delete(w, cid)
    distract = [int(c) for c in rng.choice(others, size=n - 1, replace=False, p=ow / ow.sum())]
    n_sounding = 2 if (n >= 2 and rng.random() < cfg["dup_p"]) else 1
    return cid, n_sounding, distract


def _draw_scene(rng, domain):
    """(sounding class, the scene's object classes before placement): make_sample's first draws."""
    cid, n_sounding, distract = _draw_classes(rng, domain)
    classes = [cid] * n_sounding + distract
    if n_sounding == 2 and len(distract) == 2:  # keep <= 3 objects: drop one distractor
        classes = classes[:3]
    return cid, classes


def sounding_class(domain: str, sample_id: int) -> int:
    """Cheap: the class of the sounding object (== make_sample(...)['class_id'])."""
    return _draw_classes(_rng(domain, sample_id), domain)[0]


def scene_classes(domain: str, sample_id: int) -> frozenset[int]:
    """Cheap: the classes of the objects in the picture (== set(make_sample(...)['object_classes']))."""
    return frozenset(_draw_scene(_rng(domain, sample_id), domain)[1])


# ----------------------------------------------------------------------------- image
@functools.lru_cache(maxsize=8)
def _interp_matrix(size: int, grid: int) -> np.ndarray:
    """Bilinear upsampling matrix (size x grid) for smooth low-frequency noise."""
    pos = (np.arange(size) + 0.5) / size * (grid - 1)
    i0 = np.minimum(np.floor(pos).astype(int), grid - 2)
    f = pos - i0
    m = np.zeros((size, grid), np.float32)
    m[np.arange(size), i0] = 1 - f
    m[np.arange(size), i0 + 1] = f
    return m


@functools.lru_cache(maxsize=8)
def _pixel_grid(size: int):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    yy.flags.writeable = xx.flags.writeable = False  # cached: never mutate
    return yy, xx


def _shape_mask(shape, u, v):
    """u, v: broadcastable coords in [-1, 1] across the object's box (v points down)."""
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "square":
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
    if shape == "triangle":
        return np.abs(u) <= (v + 1.0) * 0.5
    if shape == "cross":
        return (np.abs(u) <= 0.34) | (np.abs(v) <= 0.34)
    if shape == "ring":
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.3)
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    if shape == "star":  # 5 points, radius linear in angular distance to the nearest tip
        a = (np.arctan2(u, -v) / (2 * np.pi / 5)) % 1.0
        d = 2.0 * np.minimum(a, 1.0 - a)
        return np.sqrt(u * u + v * v) <= 1.0 - 0.58 * d
    if shape == "hexagon":
        return (np.abs(v) <= 0.866) & (1.732 * np.abs(u) + np.abs(v) <= 1.732)
    raise ValueError(shape)


def _crop(x0, y0, x1, y1, S):
    return (slice(max(int(y0), 0), min(int(np.ceil(y1)), S)), slice(max(int(x0), 0), min(int(np.ceil(x1)), S)))


def _background(rng, cfg, domain, S, yy, xx):
    if domain == "flickr":  # daylight: sky above a horizon, grass/sand below
        sky = np.array([140, 185, 235]) + rng.normal(0, 15, 3)
        ground = np.array([rng.choice([70, 150]), 135, 60]) + rng.normal(0, 15, 3)
        hz = rng.uniform(0.2, 0.6) * S
        t = np.clip((yy - hz) / (0.08 * S) + 0.5, 0, 1)[..., None]
        img = sky * (1 - t) + ground * t
        img = np.broadcast_to(img, (S, S, 3)).astype(np.float32)  # copy: writable
        blob_pal = np.array([[240, 240, 245], [40, 95, 40], [110, 90, 60], [90, 150, 80]], np.float32)
        line_pal = np.array([[90, 65, 40], [60, 50, 40]])
    else:  # indoor: dark base, diagonal light gradient, saturated clutter
        base = np.array([[70, 45, 30], [45, 45, 50], [50, 30, 60], [25, 35, 70]])[rng.integers(4)]
        base = base * rng.uniform(0.6, 1.3) + rng.normal(0, 10, 3)
        ang = rng.uniform(0, 2 * np.pi)
        g = ((xx - S / 2) * np.cos(ang) + (yy - S / 2) * np.sin(ang)) / S
        img = (base + 60 * g[..., None]).astype(np.float32)
        blob_pal = rng.uniform(30, 230, (4, 3)).astype(np.float32)
        line_pal = rng.uniform(20, 220, (2, 3))
    grid = rng.normal(0, cfg["lf_noise"], (3, 5, 5)).astype(np.float32)
    m = _interp_matrix(S, 5)
    img += (m @ grid @ m.T).transpose(1, 2, 0)
    # Blobs and lines are drawn inside their own bounding crop only (speed).
    for _ in range(rng.integers(cfg["n_blobs"][0], cfg["n_blobs"][1] + 1)):
        cx, cy = rng.uniform(0, S, 2)
        a, b = rng.uniform(0.05, 0.22, 2) * S
        th = rng.uniform(0, np.pi)
        sl = _crop(cx - max(a, b), cy - max(a, b), cx + max(a, b), cy + max(a, b), S)
        dx, dy = xx[sl] - cx, yy[sl] - cy
        q = ((dx * np.cos(th) + dy * np.sin(th)) / a) ** 2 + ((dy * np.cos(th) - dx * np.sin(th)) / b) ** 2
        alpha = (rng.uniform(0.4, 0.9) * np.clip((1.0 - q) * 3.0, 0, 1))[..., None]
        img[sl] += alpha * (blob_pal[rng.integers(len(blob_pal))] - img[sl])
    for _ in range(rng.integers(cfg["n_lines"][0], cfg["n_lines"][1] + 1)):
        p0, p1 = rng.uniform(0, S, (2, 2))
        w = rng.uniform(0.5, 1.8) * S / 64
        sl = _crop(min(p0[0], p1[0]) - w, min(p0[1], p1[1]) - w, max(p0[0], p1[0]) + w, max(p0[1], p1[1]) + w, S)
        dv = p1 - p0
        tt = np.clip(((xx[sl] - p0[0]) * dv[0] + (yy[sl] - p0[1]) * dv[1]) / (dv @ dv + 1e-6), 0, 1)
        on = np.hypot(xx[sl] - p0[0] - tt * dv[0], yy[sl] - p0[1] - tt * dv[1]) <= w
        img[sl][on] = line_pal[rng.integers(len(line_pal))]
    return img


def _place_boxes(rng, cfg, n, S):
    """Box half-sizes/centres, rejection-sampled to bound pairwise overlap.  Sizes are
    i.i.d. across objects (size must not reveal which one sounds)."""
    lo, hi = cfg["area"]
    if cfg["log_area"]:
        area = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    else:
        area = rng.uniform(lo, hi, n)
    if n >= 3:
        area *= cfg["crowd_shrink"]
    aspect = np.exp(rng.uniform(-0.35, 0.35, n))
    hw = np.minimum(np.sqrt(area * aspect), 0.96) * S / 2
    hh = np.minimum(np.sqrt(area / aspect), 0.96) * S / 2
    boxes = []
    for i in range(n):
        # arcsine-distributed centres push objects towards the borders, so a fixed
        # centre prior is a weak localizer
        u = rng.beta(cfg["edge_beta"], cfg["edge_beta"], (24, 2))
        cand = np.stack([hw[i] + u[:, 0] * (S - 2 * hw[i]), hh[i] + u[:, 1] * (S - 2 * hh[i])], 1)
        worst = np.zeros(24)
        for (cx, cy, bw, bh) in boxes:
            ix = np.clip(np.minimum(cand[:, 0] + hw[i], cx + bw) - np.maximum(cand[:, 0] - hw[i], cx - bw), 0, None)
            iy = np.clip(np.minimum(cand[:, 1] + hh[i], cy + bh) - np.maximum(cand[:, 1] - hh[i], cy - bh), 0, None)
            worst = np.maximum(worst, ix * iy / (4 * min(hw[i] * hh[i], bw * bh)))
        ok = np.flatnonzero(worst <= cfg["max_overlap"])
        j = ok[0] if len(ok) else int(np.argmin(worst))
        boxes.append((cand[j, 0], cand[j, 1], hw[i], hh[i]))
    return boxes


def _render_object(rng, cls, box, S):
    """Returns (crop slices, mask, rgb pixels of the crop, tight pixel bbox)."""
    shape, _, rgb, tex, _ = _CLASSES[cls]
    cx, cy, hw, hh = box
    x0, x1 = max(int(np.floor(cx - hw)), 0), min(int(np.ceil(cx + hw)), S)
    y0, y1 = max(int(np.floor(cy - hh)), 0), min(int(np.ceil(cy + hh)), S)
    dx = (np.arange(x0, x1) + 0.5 - cx)[None, :]
    dy = (np.arange(y0, y1) + 0.5 - cy)[:, None]
    mask = _shape_mask(shape, dx / hw, dy / hh)
    mask = mask & np.ones((y1 - y0, x1 - x0), bool)
    if not mask.any():  # only possible for absurdly small images: keep one pixel
        mask[mask.shape[0] // 2, mask.shape[1] // 2] = True
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    bbox = (float(x0 + cols[0]), float(y0 + rows[0]), float(x0 + cols[-1] + 1), float(y0 + rows[-1] + 1))
    # per-instance colour/brightness jitter + texture in a randomly rotated frame
    col = np.clip(np.asarray(rgb) * rng.uniform(0.8, 1.15) + rng.normal(0, 12, 3), 0, 255)
    th = rng.uniform(0, np.pi)
    xr, yr = dx * np.cos(th) + dy * np.sin(th), dy * np.cos(th) - dx * np.sin(th)
    period = max(min(hw, hh) / rng.uniform(2.2, 3.2), 2.5)
    if tex == "stripes":
        dark = (xr / period) % 1.0 < 0.5
    elif tex == "dots":
        dark = ((xr / period) % 1.0 - 0.5) ** 2 + ((yr / period) % 1.0 - 0.5) ** 2 < 0.09
    elif tex == "checker":
        dark = (np.floor(xr / period) + np.floor(yr / period)) % 2 == 0
    else:
        dark = np.zeros_like(mask)
    shade = 1.0 + 0.15 * (xr / max(hw, hh))  # soft directional lighting
    pix = col * (shade * np.where(dark, 0.32, 1.0))[..., None]
    return (slice(y0, y1), slice(x0, x1)), mask, pix, bbox


# ----------------------------------------------------------------------------- audio
def _band_noise(rng, n, sr, lo, hi, alpha=0.0):
    """Unit-RMS noise with energy in [lo, hi] Hz and 1/f^alpha power slope."""
    i0, i1 = max(int(np.ceil(lo * n / sr)), 1), int(min(hi, 0.47 * sr) * n / sr) + 1
    spec = np.zeros(n // 2 + 1, np.complex128)
    spec[i0:i1] = rng.standard_normal(2 * (i1 - i0)).view(np.complex128)
    if alpha:
        spec[i0:i1] *= (np.arange(i0, i1) * (sr / n)) ** (-alpha / 2)
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x * x)) + 1e-12)


def _envelope(p, rng, t, T):
    """Amplitude envelope and time since the current note/pulse onset."""
    t0 = rng.uniform(0, 0.3 * T)
    if p["env"] == "sustain":
        dur = rng.uniform(0.5, 1.0) * (T - t0)
        att, rel = rng.uniform(0.01, 0.08), rng.uniform(0.02, 0.15)
        tin = t - t0
        return np.clip(tin / att, 0, 1) * np.clip((dur - tin) / rel, 0, 1), np.maximum(tin, 0)
    period = 1.0 / rng.uniform(*p["rate"])
    npulse = rng.integers(p["npulse"][0], p["npulse"][1] + 1)
    k = np.floor((t - t0) / period)
    tin = t - t0 - k * period
    active = (k >= 0) & (k < npulse)
    if p["env"] == "pulse":
        shape = np.exp(-tin / rng.uniform(*p["tau"])) * np.clip(tin / 0.002, 0, 1)
    else:  # gate: flat-topped beeps with 5 ms ramps
        on = rng.uniform(*p["duty"]) * period
        shape = np.clip(tin / 0.005, 0, 1) * np.clip((on - tin) / 0.005, 0, 1)
    return shape * active, tin


_TABLE = 2048
_HARM_BASIS = np.sin(2 * np.pi * np.outer(np.arange(1, 41), np.arange(_TABLE) / _TABLE))  # (40, table)


@functools.lru_cache(maxsize=8)
def _time_axis(n: int, sr: int) -> np.ndarray:
    t = np.arange(n, dtype=np.float32) / np.float32(sr)
    t.flags.writeable = False
    return t


def _synth(cls, rng, n, sr):
    """One instance of class `cls`'s sound, unit RMS (0 where silent)."""
    p = _SOUNDS[cls]
    t = _time_axis(n, sr)
    env, tin = _envelope(p, rng, t, n / sr)
    out = np.zeros(n)
    if "f0" in p:
        f0 = np.exp(rng.uniform(*np.log(p["f0"])))
        f = np.full(n, f0, np.float32)
        if "vib" in p:
            f *= 1.0 + p["vib"][2] * np.sin(2 * np.pi * rng.uniform(*p["vib"][:2]) * t + rng.uniform(0, 6.3))
        if "glide" in p:  # upward chirp within each pulse
            f *= 2.0 ** (rng.uniform(*p["glide"]) * np.minimum(tin / 0.08, 1.0))
        if "drop" in p:  # drum: pitch falls right after each hit
            f *= 1.0 + rng.uniform(*p["drop"]) * np.exp(-tin / 0.03)
        # per-instance brightness (spectral tilt) + partial jitter: timbre varies within a class
        ks = np.arange(1, len(p["harm"]) + 1)
        amps = np.asarray(p["harm"], float) * rng.uniform(0.7, 1.3, len(ks)) * ks ** -rng.uniform(-0.3, 0.5)
        if "ratios" in p:  # inharmonic partials (bell): direct sines
            cyc = np.cumsum(f, dtype=np.float64) / sr
            out = sum(a * np.sin(2 * np.pi * r * cyc) for a, r in zip(amps, p["ratios"]) if r * f0 < 0.45 * sr)
        else:  # harmonic: one wavetable lookup, harmonics above ~Nyquist dropped
            keep = (ks * f.max() < 0.45 * sr) & (amps > 0)
            table = amps[keep] @ _HARM_BASIS[: len(amps)][keep]
            idx = (np.cumsum(f, dtype=np.float64) * (_TABLE / sr)).astype(np.int64) % _TABLE
            out = table[idx]
        out = out / (np.sqrt(np.mean(out * out)) + 1e-12)
    if "noise" in p:
        lo, hi, lvl = p["noise"]
        c = rng.uniform(0.85, 1.15)
        out = out + lvl * _band_noise(rng, n, sr, lo * c, hi * c)
    if "am" in p:
        r0, r1, depth = p["am"]
        env = env * (1.0 - depth * 0.5 * (1.0 + np.sin(2 * np.pi * rng.uniform(r0, r1) * t + rng.uniform(0, 6.3))))
    out = out * env
    return out / (np.sqrt(np.mean(out * out)) + 1e-12)


# ----------------------------------------------------------------------------- sample
def make_sample(domain: str, sample_id: int, *, image_size: int = 64, clip_seconds: float = 1.0,
                sample_rate: int = 16000) -> dict:
    """Deterministic sample; see module docstring and datasets/synthetic/README.md."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")
    cfg, S = _DOMAIN_CFG[domain], int(image_size)
    rng = _rng(domain, sample_id)
    cid, classes = _draw_scene(rng, domain)
    classes = [classes[i] for i in rng.permutation(len(classes))]  # random placement order

    yy, xx = _pixel_grid(S)
    img = _background(rng, cfg, domain, S, yy, xx)
    objs = [_render_object(rng, c, b, S) for c, b in zip(classes, _place_boxes(rng, cfg, len(classes), S))]

    # Random paint order, but occluded sounding instances are lifted to the top.
    order = list(rng.permutation(len(objs)))
    label = np.full((S, S), -1, np.int64)
    for i in order:
        label[objs[i][0]][objs[i][1]] = i
    snd = [i for i, c in enumerate(classes) if c == cid]
    if any((label[objs[i][0]][objs[i][1]] == i).mean() < _MIN_VISIBLE for i in snd):
        order = [i for i in order if i not in snd] + snd
    for i in order:
        sl, mask, pix, _ = objs[i]
        img[sl][mask] = pix[mask]

    if domain == "vggss":  # indoor colour cast over everything, objects included
        img *= rng.uniform(0.75, 1.15, 3) * rng.uniform(0.7, 1.1)
    img += rng.standard_normal((S, S, 3), dtype=np.float32) * cfg["pix_noise"]
    image = np.clip(img, 0, 255).astype(np.uint8)

    # Annotations: flickr = 3 annotators x 1 jittered box; vggss = 1 annotator x all instances.
    tight = [objs[i][3] for i in snd]
    if domain == "flickr":
        rng_ann, (x0, y0, x1, y1) = _rng(domain, sample_id, 1), tight[0]
        annotations = []
        for _ in range(3):  # each annotator: independent ~3%-of-size jitter per edge
            b = np.clip(np.array(tight[0]) + rng_ann.normal(0, 0.03, 4) * np.array([x1 - x0, y1 - y0] * 2), 0, S)
            ok = b[2] - b[0] >= 1 and b[3] - b[1] >= 1
            annotations.append([tuple(float(v) for v in (b if ok else tight[0]))])
    else:
        annotations = [[tuple(b) for b in tight]]

    # Audio: class sound + optional quieter off-screen distractor + coloured noise.
    n = int(round(clip_seconds * sample_rate))
    rng = _rng(domain, sample_id, 2)
    sig = _synth(cid, rng, n, sample_rate)
    offscreen = -1
    if rng.random() < cfg["offscreen_p"]:
        pool = [c for c in range(NUM_CLASSES) if c not in classes]
        offscreen = int(pool[rng.integers(len(pool))])
        sig = sig + _synth(offscreen, rng, n, sample_rate) * 10 ** (-rng.uniform(4, 12) / 20)
    sig = sig + _band_noise(rng, n, sample_rate, 20, 8000, rng.uniform(0, 1.5)) * 10 ** (-rng.uniform(*cfg["snr"]) / 20)
    audio = (sig * (rng.uniform(0.3, 0.95) / (np.abs(sig).max() + 1e-12))).astype(np.float32)

    return dict(image=image, audio=audio, sample_rate=int(sample_rate), annotations=annotations,
                class_id=cid, object_classes=[int(c) for c in classes], offscreen_class=offscreen)


NEGATIVE_AUDIO = ("silence", "noise", "offscreen")  # made here; "mismatched" reuses another test clip


def negative_audio(domain: str, sample_id: int, kind: str, *, clip_seconds: float = 1.0,
                   sample_rate: int = 16000) -> np.ndarray:
    """A track heard with sample `sample_id`'s picture whose source is not in it (docs/protocol.md §8.1), from
    its own random stream (3), so the test clips are unchanged: `silence` (zeros), `noise` (the clips' coloured
    background noise alone) or `offscreen` (a clip of a class not in the picture, made as make_sample makes the
    sounding clip: the class sound plus background noise at the domain's SNR, peak-normalised)."""
    n = int(round(clip_seconds * sample_rate))
    if kind == "silence":
        return np.zeros(n, np.float32)
    cfg, rng = _DOMAIN_CFG[domain], _rng(domain, sample_id, 3)
    if kind == "noise":
        sig = _band_noise(rng, n, sample_rate, 20, 8000, rng.uniform(0, 1.5))
    elif kind == "offscreen":
        pool = [c for c in range(NUM_CLASSES) if c not in scene_classes(domain, sample_id)]
        sig = _synth(int(pool[rng.integers(len(pool))]), rng, n, sample_rate)
        sig = sig + _band_noise(rng, n, sample_rate, 20, 8000, rng.uniform(0, 1.5)) * 10 ** (-rng.uniform(*cfg["snr"]) / 20)
    else:
        raise ValueError(f"unknown negative audio {kind!r}; expected one of {NEGATIVE_AUDIO}")
    return (sig * (rng.uniform(0.3, 0.95) / (np.abs(sig).max() + 1e-12))).astype(np.float32)


# ----------------------------------------------------------------------------- the dataset adapter
from benchmark.data.adapters import Adapter, get_adapter  # noqa: E402 (the generator above needs no harness)
from benchmark.data.splits import load_split, split_dir  # noqa: E402

SPLITS = ("labeled", "unlabeled", "val", "test")


class SyntheticAdapter(Adapter):
    """The generated stand-ins (datasets/synthetic/README.md): stores built on first use, integer ids."""

    name, title, source, default_profile = "synthetic", "synthetic", "synthetic", "default"
    domains = DOMAINS
    class_subsets = ("heard", "unheard")
    generated = True
    label_budgets = {"2pct": 0.02, "5pct": 0.05, "10pct": 0.10, "25pct": 0.25}
    label_streams = {"flickr": 3000, "vggss": 3001}
    negatives, class_pretraining = "generated", True

    def load(self, data, profile, domain, data_root=None, main_process_first=None):
        from benchmark.data.domains import load_synthetic_domain  # import cycle: domains -> store -> synthetic

        return load_synthetic_domain(profile, domain, data, main_process_first)

    def split_lists(self, data, profile, domain):
        lists = data.splits or profile
        return [(f"synthetic/{lists}/{domain}/{s}", lambda s=s: load_split("synthetic", lists, domain, s))
                for s in SPLITS]

    def labels_dir(self, data, profile, domain):
        return split_dir("synthetic", (data.splits if data is not None else None) or profile) / "labels" / domain

    def restrict(self, domain_data, which):
        from benchmark.data.domains import keep_classes  # import cycle, as in load

        self.check_subset(f"{domain_data.name}:{which}")
        keep = set(HEARD_CLASSES if which == "heard" else UNHEARD_CLASSES)
        return keep_classes(domain_data, which, keep, f"{which}={sorted(keep)}")

    def gt_map(self, domain, annotators, size, box_scale=None):
        """A domain is scored by the rule of the real dataset it stands in for."""
        return get_adapter(domain).gt_map(domain, annotators, size, box_scale)

    def note(self, data):
        return ("**Synthetic data.** Our columns come from the embedded procedurally generated audio-visual "
                "dataset (see `datasets/synthetic/README.md`) with light CPU backbones.")
