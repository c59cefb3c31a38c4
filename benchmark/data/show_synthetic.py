"""Write a PNG grid of synthetic samples (image + GT boxes, log-spectrogram) for eyeballing.

    python -m benchmark.data.show_synthetic --domain vggss --n 12 --out synthetic_vggss.png
"""
from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches as patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.signal import spectrogram  # noqa: E402

from benchmark.data.synthetic import CLASS_NAMES, DOMAINS, make_sample  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--domain", choices=DOMAINS, default="flickr")
    ap.add_argument("--n", type=int, default=12, help="number of samples")
    ap.add_argument("--start", type=int, default=0, help="first sample id")
    ap.add_argument("--cols", type=int, default=4, help="samples per row")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--out", default=None, help="PNG path (default synthetic_<domain>.png)")
    args = ap.parse_args(argv)
    out = args.out or f"synthetic_{args.domain}.png"

    rows = -(-args.n // args.cols)
    fig, axes = plt.subplots(rows, 2 * args.cols, figsize=(4.2 * args.cols, 2.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k in range(args.n):
        sid = args.start + k
        s = make_sample(args.domain, sid, image_size=args.image_size)
        ax_im, ax_sp = axes[k // args.cols, 2 * (k % args.cols)], axes[k // args.cols, 2 * (k % args.cols) + 1]
        ax_im.imshow(s["image"], interpolation="nearest")
        for a, boxes in enumerate(s["annotations"]):
            for (x0, y0, x1, y1) in boxes:
                # imshow pixel i spans [i-0.5, i+0.5]; box coords are pixel edges
                ax_im.add_patch(patches.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                                                  edgecolor=("lime", "magenta", "white")[a % 3], linewidth=1))
        others = [CLASS_NAMES[c].split("/")[0] for c in s["object_classes"] if c != s["class_id"]]
        ax_im.set_title(f"#{sid} {CLASS_NAMES[s['class_id']]}", fontsize=7)
        ax_im.text(0, args.image_size + 1, "also: " + ", ".join(others), fontsize=5, va="top")
        _, _, sxx = spectrogram(s["audio"], fs=s["sample_rate"], nperseg=512, noverlap=384)
        ax_sp.imshow(10 * np.log10(sxx + 1e-10), origin="lower", aspect="auto", cmap="magma")
        off = s["offscreen_class"]
        ax_sp.set_title("off-screen: " + (CLASS_NAMES[off].split("/")[1] if off >= 0 else "-"), fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
