"""Write synthetic samples in the two real layouts, so the real-data path (readers, prepare,
splits, load_real_domain) can be exercised end to end without the real downloads.

Each sample becomes a JPEG frame and a 16-bit WAV track, its boxes Flickr XML (integers on the 256 scale, one
<object> per annotator) or VGG-SS json entries (normalised to [0, 1]); only box rounding and JPEG lose anything.

    python -m benchmark.data.export --layout flickr --out /tmp/flickr-demo --n 40
"""
from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from benchmark.data import synthetic

FLICKR_KEY0 = 7_000_000_000  # Flickr ids are 10-11 digit numbers


def flickr_key(i: int) -> str:
    return str(FLICKR_KEY0 + int(i))


def vggss_key(i: int) -> str:
    return f"sy{int(i):09d}_000030"  # VGGSound ids: 11-character YouTube id, _, 6-digit start second


def _write_media(root: Path, key: str, sample: dict) -> None:
    (root / "frames").mkdir(parents=True, exist_ok=True)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    # 4:4:4 chroma: the default 4:2:0 smears the synthetic objects' colour edges
    Image.fromarray(sample["image"]).save(root / "frames" / f"{key}.jpg", quality=95, subsampling=0)
    sf.write(str(root / "audio" / f"{key}.wav"), sample["audio"], sample["sample_rate"], subtype="PCM_16")


def _write_lines(path: Path, lines) -> None:
    path.write_text("".join(f"{line}\n" for line in lines))


def _samples(domain, ids, image_size, clip_seconds, sample_rate):
    for i in ids:
        yield int(i), synthetic.make_sample(domain, int(i), image_size=image_size, clip_seconds=clip_seconds,
                                            sample_rate=sample_rate)


def flickr_xml(annotators_256) -> bytes:
    """Senocak-style annotation: <annotation><object><bbox><annotator/><xmin/>..</bbox></object>..;
    the positional readers (EZ-VSL, LVS) skip the first child of <bbox>, then read the four ints."""
    root = ET.Element("annotation")
    for a, boxes in enumerate(annotators_256):
        obj = ET.SubElement(root, "object")
        for box in boxes:
            bbox = ET.SubElement(obj, "bbox")
            ET.SubElement(bbox, "annotator").text = str(a)
            for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), box):
                ET.SubElement(bbox, tag).text = str(int(v))
    return ET.tostring(root)


def export_flickr(root, ids, *, annotated=None, test=None, image_size: int = 64, clip_seconds: float = 3.0,
                  sample_rate: int = 22050, domain: str = "flickr") -> dict:
    """Write `ids` as a Flickr-SoundNet tree; `annotated` (default all) get XML boxes and
    `test` (default the first quarter of them) goes to flickr_test.csv. Returns {key: sample}
    with the written 256-scale boxes under "annotators"."""
    root = Path(root)
    ids = [int(i) for i in ids]
    annotated = ids if annotated is None else [int(i) for i in annotated]
    test = annotated[:max(1, len(annotated) // 4)] if test is None else [int(i) for i in test]
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    out = {}
    for i, s in _samples(domain, ids, image_size, clip_seconds, sample_rate):
        key = flickr_key(i)
        _write_media(root, key, s)
        if i in annotated:
            scale = 256.0 / image_size
            s["annotators"] = [[tuple(int(np.clip(round(v * scale), 0, 256)) for v in b) for b in a]
                               for a in s["annotations"]]
            (root / "Annotations" / f"{key}.xml").write_bytes(flickr_xml(s["annotators"]))
        out[key] = s
    _write_lines(root / "flickr_test.csv", (f"{flickr_key(i)},0" for i in test))  # LVS rows: id,<count>
    _write_lines(root / "flickr_10k.txt", (flickr_key(i) for i in ids))
    _write_lines(root / "flickr_144k.txt", (flickr_key(i) for i in ids))  # the name EZ-VSL / SLAVC ship
    return out


def export_vggss(root, ids, *, annotated=None, image_size: int = 64, clip_seconds: float = 3.0,
                 sample_rate: int = 22050, domain: str = "vggss") -> dict:
    """Write `ids` as a VGG-SoundSource tree; `annotated` (default all) go to vggss.json.
    Also writes the subset lists, vggsound.csv labels and EZ-VSL-style heard/unheard test
    lists (by synthetic.HEARD_CLASSES). Returns {key: sample} with "bbox" as written."""
    root = Path(root)
    ids = [int(i) for i in ids]
    annotated = ids if annotated is None else [int(i) for i in annotated]
    entries, labels, out = [], [], {}
    for i, s in _samples(domain, ids, image_size, clip_seconds, sample_rate):
        key = vggss_key(i)
        _write_media(root, key, s)
        name = synthetic.CLASS_NAMES[s["class_id"]]
        labels.append(f"{key[:11]},{int(key[12:])},\"{name}\",train")
        if i in annotated:
            s["bbox"] = [[round(float(v) / image_size, 6) for v in b] for a in s["annotations"] for b in a]
            entries.append({"file": key, "class": name, "bbox": s["bbox"]})
        out[key] = s
    (root / "vggss.json").write_text(json.dumps(entries))
    _write_lines(root / "vggss_test.csv", (e["file"] for e in entries))
    _write_lines(root / "vggss_10k.txt", (vggss_key(i) for i in ids))
    _write_lines(root / "vggss_144k.txt", (vggss_key(i) for i in ids))
    _write_lines(root / "vggsound.csv", labels)
    for which, classes in (("heard", synthetic.HEARD_CLASSES), ("unheard", synthetic.UNHEARD_CLASSES)):
        _write_lines(root / f"vggss_{which}_test.csv",
                     (e["file"] for e in entries if synthetic.CLASS_NAMES.index(e["class"]) in classes))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layout", choices=("flickr", "vggss"), required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=40, help="samples (ids 0..n-1)")
    p.add_argument("--image-size", type=int, default=256)
    args = p.parse_args(argv)
    export = export_flickr if args.layout == "flickr" else export_vggss
    export(args.out, range(args.n), image_size=args.image_size)
    print(f"wrote {args.n} samples in the {args.layout} layout to {args.out}")


if __name__ == "__main__":
    main()
