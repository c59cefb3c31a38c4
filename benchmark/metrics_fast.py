"""The fast exact path of the cIoU metrics (CPU; h x w maps upsampled to a larger H x W GT).

Bit-identical to `benchmark.metrics`' generic path and to the per-sample reference; used by
`benchmark.metrics._cious` when it applies (see there), never on its own.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------
# Fast exact path (CPU, h x w maps upsampled to a larger H x W)
# ---------------------------------------------------------------------------
# The reference upsamples each map to H x W, normalises it and sorts all H*W
# values for the median, on float64 copies; the generic path above does the
# same batched. Here the upsampled maps are never built. With
# align_corners=True, along an output row and over the output columns between
# two input columns (a "segment": at most 57 columns, ~37 for 7 -> 224),
# torch's bilinear values are linear in the column up to float32 rounding:
#     value(d) ~ lo + d / ib,  d = 0..n-1 pixels from the segment's low end,
# within a rigorous per-map bound E. Counting the pixels below a threshold is
# then arithmetic on the H * ~w segments of a map (1344 at 224x224) instead of
# its H * W pixels, and only pixels within E of a threshold (a handful per
# map; all of a plateau at the threshold) need their exact value. Those are
# computed with exactly the float32 operations of torch's CPU kernel (two
# levels of fused multiply-add), emulated bit for bit in float64 and checked
# against F.interpolate once per shape (otherwise the generic path is used).
#   Steps per map: exact vmin / vmax (candidates near the model extremes);
# median: estimate by Newton / secant on the model's count, then exact counts
# outside [estimate -+ ~24 pixels] and exact values inside give the k-th value;
# the selection {normalised >= t} is {value >= u} for the smallest float32 u
# with fl32(fl32(u - vmin) / range) >= t (the normalisation is monotone), found
# by search on the float32 ordering; its GT sums come from the segments'
# counts plus the exact candidates.
#   GT maps in {0, 0.5, 1} (Flickr consensus and union maps; checked per map)
# become one 64-bit word per segment for the pixels at 0.5 and at 1, so the
# sums over the selected pixels are popcounts: exact integers, bit-identical to
# the reference's float64 sums.
#   Error bound (u = 2**-24, M = max |map value|): torch's value differs from
# the real-arithmetic bilinear model by <= M*(4.5u + 2*rho) + 12uM, with
# rho <= 2**-22 the error of fl32(scale * j) and 12uM for the last column,
# folded into its neighbour segment. The model's end values come from two
# float32 GEMMs (<= 6uM), its slope adds <= 14uM over a segment, and the
# float32 comparison <= 6uM: ~50uM in all. E = 2**-17 * M = 128uM (measured
# worst case on random maps: 17uM). Maps with M > 2**100 or 0 < M < 2**-60
# (overflow, subnormals) take the generic path.

_PROBES = {}
_SEG_MAX = 57  # segment width limit: its GT bits fit one unaligned 64-bit load


def _axis_weights(n_in, n_out):
    """torch's bilinear align_corners=True source indices and float32 weights along one axis."""
    j = np.arange(n_out)
    if n_out == n_in:  # torch copies (weights 1, 0)
        return j, j.copy(), np.ones(n_out, np.float32), np.zeros(n_out, np.float32)
    scale = np.float32(n_in - 1) / np.float32(n_out - 1) if n_out > 1 else np.float32(0)
    real = (scale * j.astype(np.float32)).astype(np.float32)  # area_pixel_compute_source_index
    i0 = np.minimum(np.floor(real).astype(np.int64), n_in - 1)
    l1 = np.clip(real - i0.astype(np.float32), np.float32(0), np.float32(1)).astype(np.float32)
    i1 = i0 + (i0 < n_in - 1)
    l0 = (np.float32(1) - l1).astype(np.float32)
    return i0, i1, l0, l1


_SUSPECT_EXP = np.uint64(897 << 52)  # float64 exponent field of 2**-126


def _fma32(a, b, c):
    """Correctly rounded float32 a*b + c (a single rounding), elementwise, same-shape arrays.

    a*b is exact in float64; s = a*b + c rounds once in float64, and the cast to
    float32 can double-round only when s lies exactly half-way between two
    float32 values (or in float32's subnormal range). Those rare elements are
    redone with round-to-odd (TwoSum error term), which is exact.
    """
    p = a.astype(np.float64) * b
    c = c.astype(np.float64)
    s = p + c
    out = s.astype(np.float32)
    bits = s.view(np.uint64)
    sus = ((bits & np.uint64(0x1FFFFFFF)) == np.uint64(0x10000000)) | (
        (bits & np.uint64(0x7FF0000000000000)) < _SUSPECT_EXP)
    if sus.any():
        idx = np.flatnonzero(sus)
        ps, cs, ss = p.reshape(-1)[idx], c.reshape(-1)[idx], s.reshape(-1)[idx]
        bb = ss - ps
        err = (ps - (ss - bb)) + (cs - bb)  # ss + err == ps + cs exactly
        sb = ss.view(np.int64)
        sb = np.where((err != 0) & ((sb & 1) == 0), sb + np.where((err > 0) == (ss > 0), 1, -1), sb)
        out.reshape(-1)[idx] = sb.view(np.float64).astype(np.float32)
    return out


class _Grid:
    """Per-(h, w, H, W) tables: torch's weights, the column segments, model constants."""

    def __init__(self, h, w, H, W):
        self.h, self.w, self.H, self.W = h, w, H, W
        self.iy0, self.iy1, self.h0, self.h1 = _axis_weights(h, H)
        self.ix0, self.ix1, self.w0, self.w1 = _axis_weights(w, W)
        s = float(np.float32(w - 1) / np.float32(W - 1))
        # runs of output columns between the same two input columns; the last column (whose
        # source index is w-1 itself) joins the run before it
        starts = np.flatnonzero(np.diff(self.ix0, prepend=-1))
        runs = list(zip(starts.tolist(), np.append(starts[1:], W).tolist()))
        if len(runs) > 1 and self.ix0[runs[-1][0]] == w - 1 and W - runs[-2][0] <= _SEG_MAX:
            runs[-2:] = [(runs[-2][0], W)]
        J0 = np.array([a for a, b in runs for a in range(a, b, _SEG_MAX)])
        J1 = np.array([min(b, a + _SEG_MAX) for a0, b in runs for a in range(a0, b, _SEG_MAX)]) - 1
        self.J0, self.J1 = J0, J1
        ns = self.ns = len(J0)
        cm = self.ix0[J0]
        cm1 = np.minimum(cm + 1, w - 1)
        # segment arrays are laid out (map, segment, row): per-segment constants are (ns, 1)
        # columns, so every broadcast runs along rows (numpy is slow on short inner loops)
        n = J1 - J0 + 1
        self.nflat = n.astype(np.float32)
        self.n = self.nflat[:, None]
        self.nm1 = np.maximum(n - 1, 1).astype(np.float32)[:, None]
        self.nu = n.astype(np.uint64)[:, None]
        self.nu8 = n.astype(np.uint8)[:, None]
        self.nmask = (np.uint64(1) << self.nu) - np.uint64(1)
        # value(j) ~ linear in j between the segment's end columns; their values come from two
        # small GEMMs: (input rows x ends) = x @ A.T, then (output rows) = that @ Wy.T, with
        # e = s*j - m the model's column offset from input column m
        A = np.zeros((2 * ns, w))
        for k, e in enumerate(np.concatenate([s * J0 - cm, s * J1 - cm])):
            A[k, cm[k % ns]] += 1 - e
            A[k, cm1[k % ns]] += e
        self.AT = np.ascontiguousarray(A.T).astype(np.float32)
        Wy = np.zeros((H, h))
        np.add.at(Wy, (np.arange(H), self.iy0), self.h0)
        np.add.at(Wy, (np.arange(H), self.iy1), self.h1)
        self.WyT = np.ascontiguousarray(Wy.T).astype(np.float32)
        self.k = int(H * W * 0.5)  # the reference's median index
        self.nw = (W + 63) // 64 + 1  # 64-bit words per GT row (+ a zero word)

    def pixels(self, x, n, i, j):
        """Exact float32 values torch gives the upsampled maps x (c,h,w) at pixels (n, i, j)."""
        w = self.w
        base = n * (self.h * w)
        r0, r1 = base + np.take(self.iy0, i) * w, base + np.take(self.iy1, i) * w
        m0, m1 = np.take(self.ix0, j), np.take(self.ix1, j)
        xf = x.reshape(-1)
        w0, w1 = np.take(self.w0, j), np.take(self.w1, j)
        t0 = _fma32(np.take(xf, r0 + m0), w0, np.take(xf, r0 + m1) * w1)
        t1 = _fma32(np.take(xf, r1 + m0), w0, np.take(xf, r1 + m1) * w1)
        return _fma32(t0, np.take(self.h0, i), t1 * np.take(self.h1, i))

    def full(self, x):
        """Whole upsampled maps (used by the probe)."""
        c, h, w = x.shape
        shape = (c, h, self.W)
        t = _fma32(x[:, :, self.ix0], np.broadcast_to(self.w0, shape), x[:, :, self.ix1] * self.w1)
        shape = (c, self.H, self.W)
        return _fma32(t[:, self.iy0, :], np.broadcast_to(self.h0[:, None], shape),
                      t[:, self.iy1, :] * self.h1[:, None])


def _probe(h, w, H, W):
    """_Grid for the shape if our emulation reproduces F.interpolate bit for bit there, else None.

    Checked per sample, as the reference calls it, on maps of various scales
    (torch's kernel, hence its rounding, depends on the CPU's vector ISA).
    """
    key = (h, w, H, W, torch.get_num_threads())
    if key not in _PROBES:
        g = _Grid(h, w, H, W)
        rng = np.random.default_rng(20240611)
        x = rng.standard_normal((6, h, w)) * 10.0 ** rng.uniform(-6, 6, (6, 1, 1))
        x[4] = np.round(x[4] * 2)
        x[5] = 1 + 1e-6 * rng.standard_normal((h, w))
        x = x.astype(np.float32)
        ref = np.stack([F.interpolate(torch.from_numpy(m)[None, None], size=(H, W), mode="bilinear",
                                      align_corners=True)[0, 0].numpy() for m in x])
        _PROBES[key] = g if np.array_equal(g.full(x), ref) else None
    return _PROBES[key]


def _denormals_flushed():
    t = torch.tensor([2.0 ** -140], dtype=torch.float32)
    return bool((t * 1.0)[0] == 0)


def _count_lt(t, lo, ib, n):
    """Per segment, how many of lo + d/ib (d = 0..n-1) are < t: the first ones (flat: ib = inf)."""
    q = np.subtract(t, lo)
    q *= ib
    np.ceil(q, out=q)
    np.fmax(q, 0, out=q)  # NaN (t == lo on a flat segment): none is < t
    return np.fmin(q, n, out=q)


def _expand(seg, d0, cnt):
    """(segment, offset) of every pixel of the runs [d0, d0 + cnt) in the given segments."""
    cnt = cnt.astype(np.int64)
    start = np.cumsum(cnt) - cnt
    off = np.arange(int(cnt.sum())) - np.repeat(start, cnt)
    return np.repeat(seg, cnt), np.repeat(d0.astype(np.int64), cnt) + off


class _GTPlanes:
    """GT maps as one 64-bit word per segment for the pixels at 0.5 and at 1, and whether each
    map is entirely in {0, 0.5, 1} ("nice": then every sum the protocol needs is a popcount)."""

    def __init__(self, gt, g):
        c, H, W = gt.shape
        nb, rl = (W + 7) // 8, g.nw * 8
        step, group = 4, 16  # maps per compare step (their float32 GT and bool planes stay in L2)
        rows = np.zeros((2, min(group, c), H, rl), np.uint8)  # 0.5 / 1 planes: column j -> bit j
        buf = np.empty((2, min(step, c), H, W), bool)
        zeros = np.empty(c, np.int64)
        seg = np.empty((2, c, g.ns, H), np.uint64)
        tmp = np.empty((2, min(group, c), H), np.uint64)
        for s0 in range(0, c, group):
            kg = min(group, c - s0)
            for s in range(s0, s0 + kg, step):
                gs = gt[s:min(s + step, s0 + kg)]
                k = len(gs)
                b = buf[:, :k]
                np.equal(gs, 0, out=b[0])
                for i in range(k):
                    zeros[s + i] = np.count_nonzero(b[0, i])
                np.equal(gs, 0.5, out=b[0])
                np.equal(gs, 1, out=b[1])
                r = rows[:, s - s0:s - s0 + k]
                if W % 8:
                    r[..., :nb] = np.packbits(b, axis=-1, bitorder="little")
                else:  # rows are whole bytes: one flat pack (2x faster)
                    r[..., :nb] = np.packbits(b.reshape(-1), bitorder="little").reshape(2, k, H, nb)
            # one word per segment: the (unaligned) 8 bytes from its first column's byte, shifted
            for j in range(g.ns):
                j0 = int(g.J0[j])
                v = np.ndarray((2, kg, H), np.uint64, buffer=rows, offset=j0 >> 3,
                               strides=rows.strides[:3])
                np.right_shift(v, np.uint64(j0 & 7), out=tmp[:, :kg])
                np.bitwise_and(tmp[:, :kg], g.nmask[j], out=seg[:, s0:s0 + kg, j])
        self.seg = seg  # (2, c, ns, H): bit d = column J0 + d of the segment
        pc = np.bitwise_count(seg)
        self.tot = pc.reshape(2, c, -1).sum(-1, dtype=np.uint16 if H * W < 65536 else np.int64)
        self.nice = zeros + self.tot.sum(0, dtype=np.int64) == H * W  # every pixel is 0, 0.5 or 1
        # segments entirely at 0.5 (or entirely at 1) are counted arithmetically, "mixed" ones
        # (some pixel at 0.5 or 1, not all) by popcount
        full = pc == g.nu8
        pc -= np.uint8(1)
        mixed = pc < g.nu8 - np.uint8(1)  # 0 < popcount < n
        mixed = mixed[0] | mixed[1]
        full &= ~mixed
        self.full = full.astype(np.float32)
        self.mixed = mixed
        self.g = g
        self._compress()

    def _compress(self):
        """The mixed segments' words, flat positions and per-map ranges."""
        g = self.g
        c = self.seg.shape[1]
        idx = np.flatnonzero(self.mixed)
        self.mix_idx = idx
        self.mix_map = mix_map = idx // (g.ns * g.H)
        self.mix_words = np.take(self.seg.reshape(2, -1), idx, axis=1)
        nu = np.take(g.nu.reshape(-1), idx // g.H % g.ns)
        self.mix_nu, self.mix_all = nu, (np.uint64(1) << nu) - np.uint64(1)
        self.mix_start = np.searchsorted(mix_map, np.arange(c))
        self.mix_count = np.diff(np.append(self.mix_start, len(idx)))  # maps may have none
        # pixels at 0.5 / 1 in the segments entirely at 0.5 / 1
        self.full_n = self.tot - self.per_map(np.bitwise_count(self.mix_words))

    def per_map(self, v):
        """(2, c) sums over the mixed segments of each map of v (2, K)."""
        cs = np.zeros((2, v.shape[1] + 1), np.int64)
        np.cumsum(v, axis=1, out=cs[:, 1:])
        return (cs[:, self.mix_start + self.mix_count] - cs[:, self.mix_start]).astype(np.float64)

    def select(self, idx):
        """Keep maps idx (sorted)."""
        if len(idx) == len(self.nice):
            return self
        self.seg = np.take(self.seg, idx, axis=1)
        self.full = np.take(self.full, idx, axis=1)
        self.mixed = np.take(self.mixed, idx, axis=0)
        self.tot = self.tot[:, idx]
        self._compress()
        return self


class _Chunk:
    """The segment model of a chunk of maps x (c, h, w) float32, with their GT words."""

    def __init__(self, x, g, gp):
        c = len(x)
        self.x, self.g, self.c, self.gp = x, g, c, gp
        flat = x.reshape(c, -1)
        self.raw_const = flat.max(1) == flat.min(1)
        self.E = (np.abs(flat).max(1) * np.float32(2.0 ** -17)).astype(np.float32)  # the bound E
        t = np.matmul(x.reshape(-1, g.w), g.AT)  # (c*h, 2ns): segment ends along every input row
        t = np.ascontiguousarray(t.reshape(c, g.h, -1).transpose(0, 2, 1)).reshape(-1, g.h)
        L = np.matmul(t, g.WyT).reshape(c, 2, g.ns, g.H)  # ... along every output row
        self.inc = L[:, 1] >= L[:, 0]
        self.lo = np.fmin(L[:, 0], L[:, 1])  # value at the segment's low end
        self.hi = np.fmax(L[:, 0], L[:, 1])
        ib = np.subtract(self.hi, self.lo)
        np.reciprocal(ib, out=ib)
        self.ib = np.multiply(ib, g.nm1, out=ib)  # pixels per unit value (inf: flat)
        self.n = g.n
        self.mix_inc = np.take(self.inc, gp.mix_idx)

    def take(self, idx):
        """The same model restricted to maps idx."""
        new = object.__new__(_Chunk)
        new.g, new.c, new.n = self.g, len(idx), self.n
        for k in ("x", "raw_const", "E", "lo", "hi", "inc", "ib"):
            setattr(new, k, np.take(getattr(self, k), idx, axis=0))
        gp = object.__new__(_GTPlanes)
        gp.g = self.g
        for k in ("seg", "full", "tot"):
            setattr(gp, k, np.take(getattr(self.gp, k), idx, axis=1))
        gp.mixed = np.take(self.gp.mixed, idx, axis=0)
        gp._compress()
        new.gp = gp
        new.mix_inc = np.take(new.inc, gp.mix_idx)
        return new

    def pixels(self, f, d):
        """(map, column, exact value) of offset d (from the low end) in flat segment f."""
        g = self.g
        rest, i = np.divmod(f, g.H)
        nm, cell = np.divmod(rest, g.ns)
        j = np.where(np.take(self.inc.reshape(-1), f), np.take(g.J0, cell) + d, np.take(g.J1, cell) - d)
        return nm, j, g.pixels(self.x, nm, i, j)

    def extremes(self):
        """Exact (vmin, vmax) of every map (0, 0 for maps constant before upsampling)."""
        if self.raw_const.any():
            vmin, vmax = np.zeros(self.c, np.float32), np.zeros(self.c, np.float32)
            live = np.flatnonzero(~self.raw_const)
            if len(live):
                vmin[live], vmax[live] = self.take(live).extremes()
            return vmin, vmax
        c, g = self.c, self.g
        lo = self.lo.reshape(c, -1)
        hi = self.hi.reshape(c, -1)
        E2 = 2 * self.E[:, None]
        # vmin <= (min lo) + E, so the minimum pixel's model value is < (min lo) + 2E; same for vmax
        tmin = lo.min(1, keepdims=True) + E2
        tmax = hi.max(1, keepdims=True) - E2
        smin = np.flatnonzero(lo < tmin)
        smax = np.flatnonzero(hi > tmax)
        nmin, nmax = np.take(g.nflat, smin // g.H % g.ns), np.take(g.nflat, smax // g.H % g.ns)
        per_map = lo.shape[1]
        cmin = _count_lt(np.take(tmin, smin // per_map), np.take(lo, smin), np.take(self.ib, smin), nmin)
        dmax = _count_lt(np.take(tmax, smax // per_map), np.take(lo, smax), np.take(self.ib, smax), nmax)
        f, d = _expand(np.concatenate([smin, smax]), np.concatenate([np.zeros_like(cmin), dmax]),
                       np.concatenate([cmin, nmax - dmax]))
        nm, _, v = self.pixels(f, d)
        k = int(cmin.sum())
        vmin = np.minimum.reduceat(v[:k], np.searchsorted(nm[:k], np.arange(c)))
        vmax = np.maximum.reduceat(v[k:], np.searchsorted(nm[k:], np.arange(c)))
        return vmin, vmax

    def classify(self, lo_t, hi_t):
        """Pixels surely < lo_t, surely >= hi_t (per-map float32 thresholds), and the rest exactly.

        Returns (per segment: from which offset on its pixels are surely >= hi_t,
                 per map: how many pixels are surely < lo_t,
                 the rest: flat segment, map, column, exact value)."""
        E = self.E[:, None, None]
        lt_lo = _count_lt(lo_t[:, None, None] - E, self.lo, self.ib, self.n)
        lt_hi = _count_lt(hi_t[:, None, None] + E, self.lo, self.ib, self.n)
        below = lt_lo.reshape(self.c, -1).sum(1)  # exact: integers < 2**24
        cnt = np.subtract(lt_hi, lt_lo, out=lt_lo).reshape(-1)
        sel = np.flatnonzero(cnt > 0)
        d0 = np.take(lt_hi, sel)
        cnt = np.take(cnt, sel)
        f, d = _expand(sel, d0 - cnt, cnt)
        return lt_hi, below, (f,) + self.pixels(f, d)

    def counts(self, start, f, j):
        """Per map (pixels, at GT 0.5, at GT 1) of: every segment's pixels from offset `start` on,
        plus the pixels (flat segment f, column j) (each at most once)."""
        g, c, gp = self.g, self.c, self.gp
        X = g.ns * g.H
        # sums of integers < 2**24: exact in float32
        out = [g.H * g.W - start.reshape(c, -1).sum(1).astype(np.float64)]
        planes = gp.full_n - np.matmul(gp.full.reshape(2, c, 1, X), start.reshape(c, X, 1))[:, :, 0, 0]
        if len(gp.mix_idx):  # segments whose GT is partly 0.5 / 1: popcount of the selected bits
            s = np.take(start, gp.mix_idx).astype(np.uint64)
            inc = self.mix_inc
            # columns J0 + d for d >= s (bits s..n-1) if increasing, else J1 - d (bits 0..n-1-s)
            low = (np.uint64(1) << np.where(inc, s, gp.mix_nu - s)) - np.uint64(1)
            mask = np.where(inc, gp.mix_all ^ low, low)
            planes += gp.per_map(np.bitwise_count(gp.mix_words & mask))
        out += [planes[0], planes[1]]
        if len(f):
            rest = f // g.H
            nm = rest // g.ns
            out[0] += np.bincount(nm, minlength=c)
            sh = (j - np.take(g.J0, rest % g.ns)).astype(np.uint64)
            bit = (np.take(gp.seg.reshape(2, -1), f, axis=1) >> sh) & np.uint64(1)
            for p in range(2):
                out[p + 1] += np.bincount(nm, weights=bit[p], minlength=c)
        return out


def _median_estimate(ch):
    """Approximate k-th smallest value per map: median of segment midpoints, then one Newton and
    two secant steps on the piecewise-linear count model. Returns (estimate, pixels per unit value)."""
    g, c, n = ch.g, ch.c, ch.n
    HW = g.H * g.W
    mid = (ch.lo[:, :, ::4] + ch.hi[:, :, ::4]).reshape(c, -1)
    kk = min(mid.shape[1] - 1, int((g.k + 0.5) / HW * mid.shape[1]))
    u0 = (np.partition(mid, kk, axis=1)[:, kk] * np.float32(0.5)).astype(np.float64)
    # continuous count model: a segment's pixels cover [lo - ab/2, hi + ab/2] uniformly
    top = np.float32(0.5) / ch.ib
    top += ch.hi
    ibf = np.fmin(ch.ib, np.float32(3e38))  # finite: no NaN
    target = HW - g.k - 0.5
    z = np.empty_like(top)

    def count(u):  # model count of pixels >= u
        np.subtract(top, u.astype(np.float32)[:, None, None], out=z)
        np.multiply(z, ibf, out=z)
        np.maximum(z, 0, out=z)
        np.minimum(z, n, out=z)  # (np.clip with an array bound is 2x slower)
        return z.reshape(c, -1).sum(1).astype(np.float64)

    f0 = count(u0)
    act = ((z > 0) & (z < n)).astype(np.float32).reshape(c, 1, -1)
    slope = np.matmul(act, ibf.reshape(c, -1, 1))[:, 0, 0].astype(np.float64)
    good = slope > 0
    u1 = np.where(good, u0 + (f0 - target) / np.where(good, slope, 1), u0)
    for _ in range(2):
        f1 = count(u1)
        du = u1 - u0
        sec = (f0 - f1) / np.where(du != 0, du, 1)
        good = (sec > 0) & (du != 0)
        slope = np.where(good, sec, slope)
        u0, f0 = u1, f1
        u1 = np.where(good, u1 + (f1 - target) / np.where(good, sec, 1), u1)
    return u1.astype(np.float32), slope


def _key(f):
    """float32 -> int64 with the same order."""
    b = f.view(np.int32).astype(np.int64)
    return np.where(b >= 0, b, -(b & 0x7FFFFFFF))


def _unkey(k):
    b = np.where(k >= 0, k, (-k) | 0x80000000) & 0xFFFFFFFF
    return b.astype(np.uint32).view(np.float32)


def _first_true(pred, k0, kmin, kmax, width):
    """Per map, the smallest int key k in [kmin, kmax] with pred(k) (monotone; true at kmax):
    looked for among k0 - width..k0 + width, else by bisection."""
    ks = np.clip(k0[:, None] + np.arange(-width, width + 1), kmin[:, None], kmax[:, None])
    okm = pred(ks, slice(None), True)
    found = okm[:, -1] & (~okm[:, 0] | (ks[:, 0] == kmin))
    res = ks[np.arange(len(ks)), np.argmax(okm, axis=1)]
    todo = np.flatnonzero(~found)
    if len(todo):
        lo, hi = kmin[todo], kmax[todo]
        while True:
            act = lo < hi
            if not act.any():
                break
            mid = (lo + hi) >> 1
            good = pred(mid, todo, False)
            hi = np.where(act & good, mid, hi)
            lo = np.where(act & ~good, mid + 1, lo)
        res[todo] = lo
    return res


def _rounding_boundary(f):
    """Half-way point (float64) between float32 values f > 0 and their predecessors: fl32(x) >= f
    <=> x >= it (ties aside)."""
    return (f.astype(np.float64) + np.nextafter(f, np.float32(-1)).astype(np.float64)) * 0.5


def _min_threshold(t, vmin, vmax, rng):
    """Smallest float32 u >= vmin with (u - vmin) / rng >= t in float32 arithmetic, as the reference
    normalises (t in (0, 1]). Both float32 operations are monotone, so normalised >= t <=> value >= u.

    First d = the smallest float32 with d / rng >= t, then u = the smallest float32 with
    u - vmin >= d, each found next to its rounding boundary computed in float64 (exact search
    within a few float32 steps, bisection in the rare case that misses)."""
    zero = np.zeros(len(t), np.int64)

    def dpred(k, sl, col):
        x = (lambda a: a[:, None]) if col else (lambda a: a[sl])
        return (_unkey(k) / x(rng)) >= x(t)

    dguess = (rng.astype(np.float64) * _rounding_boundary(t)).astype(np.float32)
    d = _unkey(_first_true(dpred, _key(dguess), zero, _key(rng), 4))
    guess = (vmin.astype(np.float64) + _rounding_boundary(d)).astype(np.float32)

    def upred(k, sl, col):
        x = (lambda a: a[:, None]) if col else (lambda a: a[sl])
        return (_unkey(k) - x(vmin)) >= x(d)

    return _unkey(_first_true(upred, _key(guess), _key(vmin), _key(vmax), 4))


def _median_selection(ch, vmin, vmax, rng, tot):
    """Per map (pixels, at GT 0.5, at GT 1) of the median-rule selection (non-constant maps)."""
    g, c = ch.g, ch.c
    u, slope = _median_estimate(ch)
    half = np.where(slope > 0, 24 / np.where(slope > 0, slope, 1), np.inf)
    result = [np.zeros(c), np.zeros(c), np.zeros(c)]
    todo = np.arange(c)
    sub = ch
    for attempt in range(5):
        if attempt == 4:
            half[:] = np.inf
        m = todo
        lo_t = np.maximum(u[m] - half[m], vmin[m]).astype(np.float32)
        hi_t = np.minimum(u[m] + half[m], vmax[m]).astype(np.float32)
        start, below, (f, nm, j, v) = sub.classify(lo_t, hi_t)
        base = nm.astype(np.int64) << 33  # nm is sorted: sort the values within each map
        vs = _unkey(np.sort(base + _key(v)) - base)
        counts = np.bincount(nm, minlength=len(m))
        r = g.k - below.astype(np.int64)
        ok = (r >= 0) & (r < counts)
        vk = vs[np.where(ok, np.cumsum(counts) - counts + r, 0)] if len(v) else np.zeros(len(m), v.dtype)
        ok &= (vk >= lo_t) & (vk <= hi_t)
        # selected: normalised >= normalised(vk) <=> value >= ut (<= vk); that is (surely >= hi_t)
        # plus candidates >= ut, as long as ut >= lo_t
        t = (vk - vmin[m]) / rng[m]
        every = ok & (t <= 0)  # vk == vmin: every pixel normalises to >= 0
        result[0][m[every]] = g.H * g.W
        result[1][m[every]], result[2][m[every]] = tot[:, m[every]]
        ok &= ~every
        ut = _min_threshold(np.where(ok, t, 1).astype(np.float32), vmin[m], vmax[m], rng[m])
        ok &= ut >= lo_t
        if ok.any():
            inside = ok[nm] & (v >= ut[nm])
            res = sub.counts(start, f[inside], j[inside])
            for out, val in zip(result, res):
                out[m[ok]] = val[ok]
        todo = todo[~(ok | every)]
        if not len(todo):
            break
        sub = ch.take(todo)
        half = half * 4
    return result


def _fast_chunk(x, gp, g, thresholds):
    """cIoU per threshold for maps x (c,h,w) float32 whose GT (words gp.seg) are all nice."""
    c = len(x)
    HW = g.H * g.W
    ch = _Chunk(x, g, gp)
    vmin, vmax = ch.extremes()
    const = ch.raw_const | (vmax == vmin)
    rng = (vmax - vmin).astype(np.float32)
    live = np.flatnonzero(~const)
    tot = gp.tot.astype(np.float64)
    gsum = 0.5 * tot[0] + tot[1]
    sub = ch.take(live) if len(live) < c else ch
    out = []
    for thr in thresholds:
        # constant maps normalise to all zeros (median threshold 0: every pixel selected)
        if thr == "median":
            every, none = const.copy(), np.zeros(c, bool)
        else:
            t = np.float32(thr)
            every = np.full(c, t <= 0)
            none = np.where(const, t > 0, t > 1) | np.isnan(t)  # NaN: every comparison is False
        size = np.where(every, float(HW), 0.0)
        c5 = np.where(every, tot[0], 0.0)
        c1 = np.where(every, tot[1], 0.0)
        part = np.flatnonzero(~every[live] & ~none[live])
        if len(part):
            m = live[part]
            s2 = sub.take(part) if len(part) < len(live) else sub
            if thr == "median":
                res = _median_selection(s2, vmin[m], vmax[m], rng[m], tot[:, m])
            else:
                ut = _min_threshold(np.full(len(m), t), vmin[m], vmax[m], rng[m])
                start, _, (f, nm, j, v) = s2.classify(ut, ut)
                inside = v >= ut[nm]
                res = s2.counts(start, f[inside], j[inside])
            size[m], c5[m], c1[m] = res
        inter = 0.5 * c5 + c1
        den = gsum + (size - c5 - c1)
        out.append(np.where(den > 0, inter / np.where(den > 0, den, 1.0), 0.0))
    return out


