"""`scribblesup annotate`: the API in-process (Starlette's test client) on tiny images with obvious answers, and one
drawing in a real headless browser (Debian's chromium, driven by Playwright)."""

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port
from PIL import Image

pytest.importorskip("starlette", reason="the annotate extra is not installed")
from starlette.testclient import TestClient  # noqa: E402

from scribblesup.annotate import Annotator, create_app  # noqa: E402
from scribblesup.io import read_label_png  # noqa: E402
from scribblesup.propagation import default_params  # noqa: E402

W, H = 64, 48


def make_folder(root: Path, n=2) -> Path:
    """Images dark on the left half and bright on the right; two classes."""
    (root / "images").mkdir(parents=True)
    for i in range(n):
        img = np.full((H, W), 40, np.uint8)
        img[:, W // 2:] = 210
        Image.fromarray(img).save(root / "images" / f"img{i}.png")
    (root / "classes.txt").write_text("dark 0 0 255\nbright 255 255 0\n")
    return root


def client_for(root: Path, token=None):
    from scribblesup.datasets import open_dataset

    ds = open_dataset("folder", root, split="all")
    annotator = Annotator(ds, root / "scribbles", default_params(None, n_segments=60), root / "scribbles" / ".cache")
    return TestClient(create_app(annotator, token=token, export_dir=root / "dense")), annotator


def stroke(client, sample_id, scribble, version, **extra):
    body = {"scribble": base64.b64encode(scribble.tobytes()).decode(), "width": scribble.shape[1],
            "height": scribble.shape[0], "version": version, **extra}
    return client.post(f"/api/stroke/{sample_id}", content=json.dumps(body))


def two_strokes():
    s = np.full((H, W), 255, np.uint8)
    s[20:23, 5:20] = 0
    s[20:23, 45:60] = 1
    return s


def test_a_stroke_gives_dense_labels_and_is_saved(tmp_path):
    root = make_folder(tmp_path / "d")
    client, _ = client_for(root)
    info = client.get("/api/info").json()
    assert [c["name"] for c in info["classes"]] == ["dark", "bright"] and info["scribbled"] == 0
    state = client.get("/api/state/img0").json()
    assert (state["width"], state["height"]) == (W, H)
    assert set(base64.b64decode(state["labels"])) == {255}  # nothing scribbled yet: no labels
    r = stroke(client, "img0", two_strokes(), state["version"])
    assert r.status_code == 200, r.text
    labels = np.frombuffer(base64.b64decode(r.json()["labels"]), np.uint8).reshape(H, W)
    assert (labels[:, : W // 2 - 2] == 0).all() and (labels[:, W // 2 + 2:] == 1).all()
    assert np.array_equal(read_label_png(root / "scribbles" / "img0.png"), two_strokes())  # on disk at once
    assert r.json()["scribbled"] == 1 and client.get("/api/info").json()["images"][0]["scribbled"]
    assert client.get("/api/image/img0").headers["content-type"] == "image/png"
    # a restarted server starts from what was saved
    again, _ = client_for(root)
    saved = again.get("/api/state/img0").json()
    assert saved["version"] == r.json()["version"]
    assert np.array_equal(np.frombuffer(base64.b64decode(saved["scribble"]), np.uint8).reshape(H, W), two_strokes())
    assert client.post("/api/export").json()["exported"] == 1
    assert np.array_equal(read_label_png(root / "dense" / "img0.png"), labels)


def test_a_stale_write_is_refused(tmp_path):
    root = make_folder(tmp_path / "d")
    client, _ = client_for(root)
    v0 = client.get("/api/state/img1").json()["version"]
    first = stroke(client, "img1", two_strokes(), v0)
    assert first.status_code == 200
    other = np.full((H, W), 255, np.uint8)
    other[0:3, 0:3] = 1
    late = stroke(client, "img1", other, v0)  # a second tab that still shows the old version
    assert late.status_code == 409 and "changed elsewhere" in late.json()["error"]
    assert np.array_equal(read_label_png(root / "scribbles" / "img1.png"), two_strokes())


@pytest.mark.parametrize("path", ["/api/state/..%2F..%2Fetc%2Fpasswd", "/api/state/../images/img0",
                                  "/api/image/%2Fetc%2Fpasswd", "/api/state/nope"])
def test_unknown_ids_and_traversal_are_404(tmp_path, path):
    client, _ = client_for(make_folder(tmp_path / "d"))
    assert client.get(path).status_code == 404


def test_a_symlink_out_of_the_dataset_is_refused(tmp_path):
    root = make_folder(tmp_path / "d")
    outside = tmp_path / "secret.png"
    Image.fromarray(np.zeros((H, W), np.uint8)).save(outside)
    (root / "images" / "evil.png").symlink_to(outside)
    client, _ = client_for(root)
    assert client.get("/api/image/evil").status_code == 403
    assert client.get("/api/state/evil").status_code == 403
    assert client.get("/api/image/img0").status_code == 200


def test_colour_images_and_a_trained_network(tmp_path):
    """CamVid's demo images (colour); with a run's network the labels still follow the strokes where drawn."""
    from scribblesup.datasets import open_dataset
    from scribblesup.demo import DEMO_DATA
    from scribblesup.runs import load_run
    from scribblesup.train import train
    from test_runs import demo_config

    root = tmp_path / "camvid"
    shutil.copytree(DEMO_DATA / "camvid", root)
    ds = open_dataset("folder", root, split="all")
    run = train(demo_config(tmp_path, "net", f"data.root={root}", "train.steps=3"), progress=False)
    model, config, _ = load_run(run, "last")
    plain = Annotator(ds, tmp_path / "a", default_params("camvid"), tmp_path / "a" / ".cache")
    joined = Annotator(ds, tmp_path / "b", default_params("camvid", network_weight=0.5), tmp_path / "b" / ".cache",
                       model, config.data.input_size)
    i = ds.ids[0]
    assert plain.image(i).shape[2] == 3 and Image.open(__import__("io").BytesIO(plain.image_png(i))).mode == "RGB"
    scribble = ds.load(i).scribble
    a, b = plain.labels(i, scribble), joined.labels(i, scribble)
    drawn = scribble != 255
    assert (a[drawn] == scribble[drawn]).all() and (b[drawn] == scribble[drawn]).all()
    assert joined.probabilities(i).shape == (ds.info.num_classes, *scribble.shape)
    assert not np.array_equal(a, b)  # the network's unary changes the cut


def test_bad_strokes_are_4xx_with_a_message(tmp_path):
    root = make_folder(tmp_path / "d")
    client, _ = client_for(root)
    v = client.get("/api/state/img0").json()["version"]
    bad_class = two_strokes()
    bad_class[0, 0] = 7
    r = stroke(client, "img0", bad_class, v)
    assert r.status_code == 422 and "class ids [7]" in r.json()["error"]
    r = stroke(client, "img0", np.full((H + 1, W), 255, np.uint8), v)
    assert r.status_code == 422 and "for an image of 64x48" in r.json()["error"]
    assert client.post("/api/stroke/img0", content=b"not json").status_code == 400
    huge = client.post("/api/stroke/img0", content=b"x" * (9 * W * H + 5000))
    assert huge.status_code == 413
    assert not (root / "scribbles" / "img0.png").exists()  # nothing saved by a refused request


def test_a_token_is_checked_on_every_request(tmp_path):
    client, _ = client_for(make_folder(tmp_path / "d"), token="s3cret")
    assert client.get("/api/info").status_code == 401
    assert client.get("/api/info?token=wrong").status_code == 401
    assert client.get("/api/info", headers={"x-token": "s3cret"}).status_code == 200
    assert client.get("/?token=s3cret").status_code == 200


def test_the_command_refuses_an_open_host_without_token_and_a_read_only_folder(tmp_path, capsys):
    from scribblesup.cli import main

    root = make_folder(tmp_path / "d")
    assert main(["annotate", str(root), "--host", "0.0.0.0"]) == 2
    assert "--token" in capsys.readouterr().err
    (root / "a_file").write_text("x")  # a folder that cannot be made (root writes anywhere else)
    assert main(["annotate", str(root), "--out", str(root / "a_file" / "scribbles")]) == 2
    assert "cannot save scribbles here" in capsys.readouterr().err
    if os.geteuid() != 0:
        (root / "ro").mkdir(mode=0o500)
        assert main(["annotate", str(root), "--out", str(root / "ro")]) == 2
        assert "cannot save scribbles here" in capsys.readouterr().err
    assert main(["annotate", str(root), "--dataset", "acdc"]) == 2  # a read-only layout needs --out


# ---------------------------------------------------------------- a real browser

def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_drawing_a_stroke_in_a_real_browser(tmp_path):
    """Open the page in headless chromium, draw with the mouse, wait for the overlay, find the PNG on disk."""
    if chromium() is None:
        message = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("SCRIBBLESUP_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; SCRIBBLESUP_REQUIRE_BROWSER=1 makes this test mandatory")
        pytest.skip(message)
    playwright = pytest.importorskip("playwright.sync_api")
    from scribblesup.demo import DEMO_DATA

    root = tmp_path / "demo"
    shutil.copytree(DEMO_DATA / "acdc", root)
    shutil.rmtree(root / "scribbles")
    first = sorted((root / "images").iterdir())[0].stem
    truth = read_label_png(root / "labels" / f"{first}.png")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "scribblesup", "annotate", str(root), "--port", str(port),
                               "--preset", "mri"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "open http://127.0.0.1" in server.stdout.readline() + server.stdout.readline()
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 700})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("document.querySelectorAll('#images li').length === 3")
            page.wait_for_function(f"current && current.id === {first!r}")
            box = page.locator("#viewport").bounding_box()
            from scribblesup.scribbles import stroke_coordinates

            # replay the real hand-drawn strokes of this slice with the mouse, point by point along each stroke
            real = read_label_png(DEMO_DATA / "acdc" / "scribbles" / f"{first}.png")
            strokes, position, length = stroke_coordinates(real)
            view = page.evaluate("[view.scale, view.x, view.y]")

            def to_screen(x, y):
                return box["x"] + view[1] + (x + 0.5) * view[0], box["y"] + view[2] + (y + 0.5) * view[0]

            for k in np.argsort(-length)[: int((length > 8).sum())]:
                ys, xs = np.nonzero(strokes == k)
                order = np.argsort(position[ys, xs])
                ys, xs = ys[order][::3], xs[order][::3]
                page.keyboard.press(str(int(real[ys[0], xs[0]]) + 1))
                page.mouse.move(*to_screen(xs[0], ys[0]))
                page.mouse.down()
                for x, y in zip(xs[1:], ys[1:]):
                    page.mouse.move(*to_screen(x, y))
                page.mouse.up()
            page.wait_for_function("document.getElementById('status').textContent.startsWith('saved') && "
                                   "new Set(current.scribble).size === 5")
            page.wait_for_function("!document.getElementById('status').textContent.includes('not saved')")
            time.sleep(0.5)
            labels = np.array(page.evaluate("Array.from(current.labels)"), np.uint8).reshape(truth.shape)
            page.screenshot(path=str(tmp_path / "annotate.png"))
            shot = os.environ.get("SCRIBBLESUP_SCREENSHOT")
            if shot:
                page.screenshot(path=shot)
            browser.close()
        saved = sorted((root / "scribbles").glob("*.png"))
        assert [p.stem for p in saved] == [first]
        scribble = read_label_png(saved[0])
        assert set(np.unique(scribble)) == {0, 1, 2, 3, 255}
        assert (truth[scribble != 255] == scribble[scribble != 255]).mean() > 0.9  # drawn where meant
        assert ((scribble != 255) & (real != 255)).sum() > 0.8 * (real != 255).sum()  # along the real strokes
        # the overlay the page shows: the graph cut of the four strokes, mostly right
        from scribblesup.metrics import ConfusionMatrix

        assert ConfusionMatrix(4).update(truth, labels).miou > 0.6
        assert (tmp_path / "annotate.png").stat().st_size > 10_000
    finally:
        server.terminate()
        server.wait(timeout=20)
