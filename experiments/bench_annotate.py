"""`scribblesup annotate`: server time from a stroke received to the dense labels returned.

A person is simulated on real images: the image's scribbles (ACDC: the real hand-drawn ones; CamVid: the `curve`
synthetic ones) are added one stroke at a time, longest first, and each new scribble map is posted to the app
through Starlette's in-process test client, as the page posts it. The time of each request (JSON and base64
decoding, checks, the atomic PNG save, the graph cut on the cached region graph, encoding the labels) is measured
around the call; the first open of an image (superpixels + region graph, then cached) is reported apart.

    python experiments/bench_annotate.py --n 10

Writes experiments/results/bench_annotate.md and .csv.
"""

from __future__ import annotations

import argparse
import base64
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from starlette.testclient import TestClient

from common import write_table
from scribblesup.annotate import Annotator, create_app
from scribblesup.datasets import open_dataset
from scribblesup.propagation import default_params
from scribblesup.scribbles import stroke_coordinates


def simulate(name, dataset, out: Path, n: int) -> dict:
    annotator = Annotator(dataset, out / name, default_params(dataset.info.name), out / name / ".cache")
    client = TestClient(create_app(annotator))
    opens, strokes = [], []
    ids = dataset.ids[:: max(1, len(dataset.ids) // n)][:n]
    for sample_id in ids:
        full = dataset.load(sample_id).scribble
        t0 = time.perf_counter()
        state = client.get(f"/api/state/{sample_id}").json()
        opens.append((time.perf_counter() - t0) * 1000)
        version = state["version"]
        label, position, length = stroke_coordinates(full)
        scribble = np.full(full.shape, 255, np.uint8)
        # a fresh image: start from nothing, one stroke after another
        for k in np.argsort(-length[1:]) + 1:
            if length[k] < 3:
                continue
            scribble[label == k] = full[label == k]
            body = json.dumps({"scribble": base64.b64encode(scribble.tobytes()).decode(), "width": full.shape[1],
                               "height": full.shape[0], "version": version})
            t0 = time.perf_counter()
            r = client.post(f"/api/stroke/{sample_id}", content=body)
            strokes.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.text
            version = r.json()["version"]
    h, w = dataset.load(ids[0]).image.shape[:2]
    return {"dataset": name, "size": f"{w} x {h}", "images": len(ids), "strokes": len(strokes),
            "median_ms": float(np.median(strokes)), "p95_ms": float(np.percentile(strokes, 95)),
            "max_ms": float(np.max(strokes)), "open_ms": float(np.median(opens))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10, help="images per dataset")
    ap.add_argument("--acdc", default="../shared/data/ACDC")
    ap.add_argument("--camvid", default="../shared/data/CamVid")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        acdc = open_dataset("acdc", args.acdc, split="train", fold=1)
        camvid = open_dataset("camvid", args.camvid, split="train", options={"scribble_protocol": "curve"})
        rows.append(simulate("ACDC (real scribbles)", acdc, Path(tmp), args.n))
        rows.append(simulate("CamVid (curve scribbles)", camvid, Path(tmp), args.n))
        for r in rows:
            print(r, flush=True)
    write_table("bench_annotate", "scribblesup annotate: server time per stroke", rows,
                [("data", "dataset", ""), ("size", "size", ""), ("images", "images", ""),
                 ("strokes", "strokes", ""), ("median (ms)", "median_ms", ".1f"), ("p95 (ms)", "p95_ms", ".1f"),
                 ("max (ms)", "max_ms", ".1f"), ("first open (ms, median)", "open_ms", ".0f")],
                notes=["Each stroke: the whole request in-process (decode, checks, atomic save, graph cut on the "
                       "cached region graph with the dataset's measured parameters, encode). Goal: median <= 50 ms "
                       "and p95 <= 100 ms. First open: superpixels and the region graph, once per image."])


if __name__ == "__main__":
    main()
