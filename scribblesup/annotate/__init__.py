"""``scribblesup annotate``: draw scribbles in the browser and see the dense labels as you draw.

A Starlette app (the ``annotate`` extra: ``pip install 'scribblesup[annotate]'``) serving one page of plain
HTML/JS/canvas (``static/``) and a small JSON API. The labelling itself is the project's: each stroke runs
:func:`scribblesup.propagation.propagate_scribbles` on the image's region graph, computed once per image (the
content-keyed :class:`scribblesup.labelling.RegionGraphCache` on disk, and kept in memory); with a trained run, its
network's probabilities join the energy (computed once per image).

The scribble map of an image is saved after every stroke, atomically, as a palette PNG: in the dataset's own
``scribbles/`` folder for a folder dataset, in ``--out`` for the read-only layouts (ACDC, CamVid, VOC). Each save
returns a version (a hash of the saved map); a write that names an older version is refused (409), so two tabs on
one image never overwrite each other silently.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..conventions import UNLABELLED
from ..datasets.base import check_sample_id
from ..io import read_image, read_label_png, write_label_png
from ..labelling import RegionGraphCache
from ..propagation import PropagationParams, propagate_scribbles

STATIC = Path(__file__).parent / "static"


class AnnotationError(ValueError):
    """A request the annotator refuses: ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def check_writable(folder: Path) -> Path:
    """Create ``folder`` if needed and prove a file can be written there (a clear error at start, not later)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(f"{folder}: cannot save scribbles here ({exc.strerror or exc}); choose --out") from None
    return folder


class Annotator:
    """The annotation state of one dataset split: images, saved scribbles, region graphs, network maps.

    Parameters
    ----------
    dataset : scribblesup.datasets.Dataset
    out_dir : path-like
        Where scribble PNGs ``<id>.png`` are saved (a folder dataset's ``scribbles/``).
    params : PropagationParams
    cache_dir : path-like
        The region-graph cache.
    model, input_size : optional
        A trained network (``--run``): its unary joins the energy.
    """

    def __init__(self, dataset, out_dir, params: PropagationParams, cache_dir, model=None, input_size=None,
                 memory: int = 32):
        self.dataset, self.params = dataset, params
        self.out_dir = check_writable(Path(out_dir))
        self.cache = RegionGraphCache(cache_dir, params)
        self.model, self.input_size = model, input_size
        self.info = dataset.info
        self.ids = list(dataset.ids)
        self._known = set(self.ids)
        self._memory = memory
        self._images, self._graphs, self._probabilities = OrderedDict(), OrderedDict(), OrderedDict()
        # what is saved, read once: ids with a scribble file, and the version of each map served or saved
        self._scribbled = {p.stem for p in self.out_dir.glob("*.png") if p.stem in self._known}
        self._versions = {}

    # ------------------------------------------------------------------ inputs

    def check_id(self, sample_id: str) -> str:
        """``sample_id`` if it is an image of the split; 404 otherwise (no path is ever built from an unknown id)."""
        if sample_id not in self._known:
            raise AnnotationError(f"no image {sample_id!r} in this dataset", 404)
        return check_sample_id(sample_id, self.out_dir)

    def _remember(self, table: OrderedDict, key, value):
        table[key] = value
        table.move_to_end(key)
        while len(table) > self._memory:
            table.popitem(last=False)
        return value

    def image(self, sample_id: str) -> np.ndarray:
        """The image, float32 H x W x C in [0, 1] (a folder dataset's image needs no scribble to be opened)."""
        self.check_id(sample_id)
        if sample_id not in self._images:
            paths = getattr(self.dataset, "paths", None)
            if paths is not None:
                root = Path(self.dataset.root).resolve()
                if not paths[sample_id].resolve().is_relative_to(root):  # a symlink out of the dataset
                    raise AnnotationError(f"image {sample_id!r} lies outside the dataset folder", 403)
                image = read_image(paths[sample_id])
            else:
                image = self.dataset.load(sample_id).image
            self._remember(self._images, sample_id, image)
        return self._images[sample_id]

    def graph(self, sample_id: str):
        """The image's region graph: from memory, else the disk cache, else computed (the first open)."""
        if sample_id not in self._graphs:
            self._remember(self._graphs, sample_id, self.cache.get(sample_id, self.image(sample_id)))
        return self._graphs[sample_id]

    def probabilities(self, sample_id: str):
        if self.model is None:
            return None
        if sample_id not in self._probabilities:
            from ..inference import predict_probabilities

            p = predict_probabilities(self.model, self.image(sample_id), self.input_size).astype(np.float32)
            self._remember(self._probabilities, sample_id, p)
        return self._probabilities[sample_id]

    # ------------------------------------------------------------------ scribbles

    def scribble_path(self, sample_id: str) -> Path:
        return self.out_dir / f"{self.check_id(sample_id)}.png"

    def scribble(self, sample_id: str) -> np.ndarray:
        """The current scribble map: the saved one, else the dataset's own (ACDC, VOC, synthesised CamVid), else
        empty (255)."""
        path = self.scribble_path(sample_id)
        h, w = self.image(sample_id).shape[:2]
        if path.is_file():
            return read_label_png(path, self.info.palette)
        if getattr(self.dataset, "paths", None) is None:  # a layout with its own scribbles
            return self.dataset.load(sample_id).scribble
        return np.full((h, w), UNLABELLED, np.uint8)

    @staticmethod
    def version_of(scribble: np.ndarray) -> str:
        """A short hash of a scribble map: the version a client must name to replace it."""
        return hashlib.sha256(np.ascontiguousarray(scribble).tobytes()).hexdigest()[:16]

    def scribbled(self) -> set:
        """Ids with a saved scribble map."""
        return set(self._scribbled)

    def version(self, sample_id: str) -> str:
        """The version of the image's current scribble map (remembered once read or saved)."""
        if sample_id not in self._versions:
            self._versions[sample_id] = self.version_of(self.scribble(sample_id))
        return self._versions[sample_id]

    def labels(self, sample_id: str, scribble: np.ndarray | None = None) -> np.ndarray:
        """Dense labels of ``scribble`` (default: the current one); 255 everywhere while nothing is scribbled."""
        scribble = self.scribble(sample_id) if scribble is None else scribble
        if not (scribble != UNLABELLED).any():
            return np.full(scribble.shape, UNLABELLED, np.uint8)
        return propagate_scribbles(self.image(sample_id), scribble, self.info.num_classes, self.params,
                                   self.probabilities(sample_id), graph=self.graph(sample_id)).labels

    def check_scribble(self, sample_id: str, data: bytes, width: int, height: int) -> np.ndarray:
        """A client's scribble map (raw bytes, one class id per pixel, 255 = none), checked: size and values."""
        h, w = self.image(sample_id).shape[:2]
        if (width, height) != (w, h):
            raise AnnotationError(f"scribble of {width}x{height} for an image of {w}x{h}", 422)
        if len(data) != w * h:
            raise AnnotationError(f"scribble data of {len(data)} bytes, expected {w * h} ({w}x{h})", 422)
        scribble = np.frombuffer(data, np.uint8).reshape(h, w)
        bad = np.unique(scribble[(scribble != UNLABELLED) & (scribble >= self.info.num_classes)])
        if bad.size:
            raise AnnotationError(f"class ids {bad.tolist()} beyond the {self.info.num_classes} classes", 422)
        return scribble

    def save(self, sample_id: str, scribble: np.ndarray, version: str) -> tuple[np.ndarray, str, float]:
        """Save a new scribble map if ``version`` is the current one's; return (dense labels, new version, server
        milliseconds of the propagation)."""
        if version != self.version(sample_id):
            raise AnnotationError("this image was changed elsewhere (another tab?): reload it to go on", 409)
        write_label_png(self.scribble_path(sample_id), scribble, self.info.palette)
        self._scribbled.add(sample_id)
        self._versions[sample_id] = self.version_of(scribble)
        t0 = time.perf_counter()
        labels = self.labels(sample_id, scribble)
        return labels, self._versions[sample_id], (time.perf_counter() - t0) * 1000

    def export(self, folder) -> int:
        """Dense labels of every scribbled image as palette PNGs ``<folder>/<id>.png``; returns how many."""
        folder = Path(folder)
        ids = sorted(self.scribbled())
        for sample_id in ids:
            write_label_png(folder / f"{sample_id}.png", self.labels(sample_id), self.info.palette)
        return len(ids)

    # ------------------------------------------------------------------ pictures for the page

    def image_png(self, sample_id: str) -> bytes:
        from PIL import Image

        image = self.image(sample_id)
        pixels = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
        pixels = pixels[:, :, 0] if pixels.shape[2] == 1 else pixels[:, :, :3]
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG")
        return buf.getvalue()

    def boundaries(self, sample_id: str) -> np.ndarray:
        """(H, W) bool superpixel boundaries."""
        sp = self.graph(sample_id).labels
        edge = np.zeros(sp.shape, bool)
        edge[:, 1:] |= sp[:, 1:] != sp[:, :-1]
        edge[1:, :] |= sp[1:, :] != sp[:-1, :]
        return edge


def encode(array: np.ndarray) -> str:
    """Raw bytes of a uint8 map, base64 (what the page decodes into a typed array)."""
    return base64.b64encode(np.ascontiguousarray(array, np.uint8).tobytes()).decode("ascii")


def create_app(annotator: Annotator, token: str | None = None, export_dir=None):
    """The Starlette app: the page, and a JSON API whose errors are 4xx with a message, never a traceback."""
    import hmac
    import json as jsonlib

    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Route

    def check_token(request: Request):
        if token is None:
            return None
        given = request.headers.get("x-token") or request.query_params.get("token") or ""
        if not hmac.compare_digest(given, token):
            return JSONResponse({"error": "a valid token is needed (?token=... in the address)"}, status_code=401)
        return None

    class Guard(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):
            refused = check_token(request)
            if refused is not None:
                return refused
            try:
                return await call_next(request)
            except AnnotationError as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            except (ValueError, KeyError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)

    def sample_id(request: Request) -> str:
        return annotator.check_id(request.path_params["sample_id"])

    async def page(request):
        return FileResponse(STATIC / "index.html")

    async def script(request):
        return FileResponse(STATIC / "app.js", media_type="text/javascript")

    async def info(request):
        done = annotator.scribbled()
        return JSONResponse({
            "classes": [{"name": n, "color": [int(v) for v in c]}
                        for n, c in zip(annotator.info.class_names, annotator.info.palette)],
            "images": [{"id": i, "scribbled": i in done} for i in annotator.ids],
            "scribbled": len(done), "total": len(annotator.ids),
            "network": annotator.model is not None,
        })

    async def image(request):
        return Response(annotator.image_png(sample_id(request)), media_type="image/png")

    async def state(request):
        i = sample_id(request)
        t0 = time.perf_counter()
        annotator.graph(i)  # the first open of an image computes its region graph
        first_open = (time.perf_counter() - t0) * 1000
        scribble = annotator.scribble(i)
        h, w = scribble.shape
        return JSONResponse({"id": i, "width": w, "height": h, "version": annotator.version(i),
                             "scribble": encode(scribble), "labels": encode(annotator.labels(i, scribble)),
                             "boundaries": encode(annotator.boundaries(i)), "open_ms": first_open})

    async def stroke(request):
        i = sample_id(request)
        body = await request.body()
        h, w = annotator.image(i).shape[:2]
        if len(body) > 8 * h * w + 4096:
            raise AnnotationError("request too large for this image", 413)
        try:
            payload = jsonlib.loads(body)
            data = base64.b64decode(payload["scribble"], validate=True)
            width, height, version = int(payload["width"]), int(payload["height"]), str(payload["version"])
        except (ValueError, KeyError, TypeError):
            raise AnnotationError("expected JSON with scribble (base64), width, height, version") from None
        scribble = annotator.check_scribble(i, data, width, height)
        labels, new_version, ms = annotator.save(i, scribble, version)
        return JSONResponse({"version": new_version, "labels": encode(labels), "server_ms": ms,
                             "scribbled": len(annotator.scribbled())})

    async def export(request):
        if export_dir is None:
            raise AnnotationError("no export folder (--export DIR)", 400)
        n = annotator.export(export_dir)
        return JSONResponse({"exported": n, "folder": str(export_dir)})

    routes = [
        Route("/", page), Route("/app.js", script), Route("/api/info", info),
        Route("/api/image/{sample_id}", image), Route("/api/state/{sample_id}", state),
        Route("/api/stroke/{sample_id}", stroke, methods=["POST"]), Route("/api/export", export, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(Guard)])
