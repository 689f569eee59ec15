"""Reading and writing images and label maps (palette PNGs), with atomic writes."""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .conventions import UNLABELLED, as_float_image


def default_palette(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map: (n, 3) uint8, index 255 white for 'unlabelled'."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette[i] = (r, g, b)
    palette[UNLABELLED] = (255, 255, 255)
    return palette[:n]


def full_palette(colors: np.ndarray | None) -> np.ndarray:
    """A 256-entry palette whose first entries are ``colors`` and whose 255 is white."""
    palette = default_palette(256)
    if colors is not None:
        colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
        palette[: len(colors)] = colors
    palette[UNLABELLED] = (255, 255, 255)
    return palette


TEMP_MARK = ".tmp"  # atomic_path's temporary files: ".<name>.<random>.tmp<suffix>", hidden, never inputs


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    The file gets the usual permissions (0666 less the umask), as a plain ``open`` would give it.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, expected a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_MARK + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temp_files(folder: str | os.PathLike, older_than: float = 0.0) -> int:
    """Delete temporary files that :func:`atomic_path` left in ``folder`` (a killed writer); return how many.

    Call it only on a folder this process owns (a locked run folder), or with ``older_than`` (seconds) on a
    shared one, so that another process's file in flight is left alone.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    now = time.time()
    stale = [p for p in folder.glob(f".*{TEMP_MARK}*") if p.is_file() and now - p.stat().st_mtime >= older_than]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def check_outputs(outputs, inputs=()) -> None:
    """Refuse, before anything is written, outputs that are (or resolve to) an input or an existing file inside an
    input folder, or that collide.

    Raises ``ValueError`` naming the paths.
    """
    inputs = {Path(p).resolve(): Path(p) for p in inputs}
    folders = [r for r in inputs if r.is_dir()]
    seen: dict = {}
    for out in outputs:
        r = Path(out).resolve()
        if r in inputs:
            raise ValueError(f"{out}: this output would overwrite the input {inputs[r]}; choose another output path")
        inside = next((f for f in folders if r.is_file() and r.is_relative_to(f)), None)
        if inside is not None:
            raise ValueError(f"{out}: this output would overwrite a file of the input folder {inputs[inside]}; "
                             "choose another output path")
        if r in seen:
            raise ValueError(f"{out}: two outputs would be written to this path (from inputs of the same name); "
                             "give the inputs distinct names or predict them into separate folders")
        seen[r] = out


def write_label_png(path: str | os.PathLike, labels: np.ndarray, colors: np.ndarray | None = None) -> None:
    """Write a class-index map as a palette ('P' mode) PNG, atomically.

    Parameters
    ----------
    path : path-like
        Output file.
    labels : ndarray
        (H, W) integer class ids in 0..255 (255 = unlabelled / void).
    colors : ndarray, optional
        (K, 3) colours of the classes; default: the VOC colour map.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.min(initial=0) < 0 or labels.max(initial=0) > 255:
        raise ValueError(f"labels must be an H x W map of ids 0..255, got shape {labels.shape}")
    img = Image.fromarray(labels.astype(np.uint8), mode="P")
    img.putpalette(full_palette(colors).ravel().tolist())
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an RGB or grayscale uint8/float image atomically (format from the suffix)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    fmt = Image.registered_extensions().get(Path(path).suffix.lower(), "PNG")
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format=fmt)


def max_pixels() -> int:
    """The largest image (in pixels) any reader accepts: ``SCRIBBLESUP_MAX_PIXELS``, default 50 million
    (e.g. 7000 x 7000); larger inputs are refused before they are decoded."""
    value = os.environ.get("SCRIBBLESUP_MAX_PIXELS", "50000000")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"SCRIBBLESUP_MAX_PIXELS={value!r}: expected a whole number of pixels") from None


def check_size(width: int, height: int, source) -> None:
    """Refuse an image declared larger than :func:`max_pixels` (or with a non-positive side), naming ``source``."""
    if width < 1 or height < 1:
        raise ValueError(f"{source}: image size {width}x{height} is empty")
    if width * height > max_pixels():
        raise ValueError(f"{source}: image of {width}x{height} pixels is larger than the limit of {max_pixels()} "
                         "pixels (set SCRIBBLESUP_MAX_PIXELS to raise it)")


def _open(path: str | os.PathLike) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        img = Image.open(path)
        check_size(*img.size, path)
        img.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc})") from None
    return img


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as float32 H x W x C in [0, 1] (C = 1 for grayscale, 3 for colour).

    ``.npy`` files holding an H x W or H x W x C array are accepted too.
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if arr.ndim >= 2:
                check_size(arr.shape[1], arr.shape[0], path)
            arr = np.array(arr)
        except (ValueError, OSError) as exc:
            if str(path) in str(exc):
                raise
            raise ValueError(f"{path}: not a readable .npy array ({exc})") from None
        try:
            return as_float_image(arr)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
    img = _open(path)
    if img.mode in ("L", "I;16", "I", "F"):
        arr = np.asarray(img)
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float32) / 255.0
        elif img.mode == "F":
            arr = arr.astype(np.float32)
        else:
            arr = arr.astype(np.float32) / max(float(arr.max()), 1.0)
        return arr[:, :, None]
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def read_label_png(path: str | os.PathLike, colors: np.ndarray | None = None) -> np.ndarray:
    """Read a class-index map (palette or single-channel PNG) as uint8 H x W.

    An RGB label image is converted through ``colors`` (the dataset's
    palette, index order) when every pixel matches a class colour or white
    (255, unlabelled); otherwise a ``ValueError`` explains the problem.
    """
    img = _open(path)
    if img.mode in ("P", "L"):
        return np.asarray(img, dtype=np.uint8)
    if img.mode in ("I", "I;16"):
        arr = np.asarray(img)
        if arr.max() > 255:
            raise ValueError(f"{path}: label values up to {int(arr.max())}, expected class ids 0..255")
        return arr.astype(np.uint8)
    if img.mode in ("RGB", "RGBA"):
        rgb = np.asarray(img.convert("RGB"))
        if colors is None:
            raise ValueError(
                f"{path}: an RGB colour image, not a class-index map; save labels as palette ('P') "
                "or grayscale PNGs whose values are class ids, or give the dataset's palette"
            )
        weights = np.array([65536, 256, 1])
        lut = {int(code): i for i, code in enumerate(np.asarray(colors, np.int64).reshape(-1, 3) @ weights)}
        lut.setdefault(255 * 65536 + 255 * 256 + 255, UNLABELLED)
        codes, inverse = np.unique(rgb.reshape(-1, 3).astype(np.int64) @ weights, return_inverse=True)
        ids = np.array([lut.get(int(c), -1) for c in codes])
        if (ids < 0).any():
            c = int(codes[ids < 0][0])
            raise ValueError(
                f"{path}: RGB label image has colour {(c >> 16, (c >> 8) & 255, c & 255)} "
                "that is not a class colour of the dataset"
            )
        return ids[inverse].reshape(rgb.shape[:2]).astype(np.uint8)
    raise ValueError(f"{path}: unsupported label image mode {img.mode!r}")


def overlay(image: np.ndarray, labels: np.ndarray, colors: np.ndarray | None = None, alpha: float = 0.5,
            scribble: np.ndarray | None = None) -> np.ndarray:
    """Blend a label map over an image (255 left uncoloured); scribbles drawn opaque on top.

    Returns an (H, W, 3) uint8 picture.
    """
    img = as_float_image(image)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    palette = full_palette(colors).astype(np.float32) / 255.0
    labels = np.asarray(labels)
    out = img.copy()
    known = labels != UNLABELLED
    out[known] = (1 - alpha) * img[known] + alpha * palette[labels[known]]
    if scribble is not None:
        marked = scribble != UNLABELLED
        out[marked] = palette[scribble[marked]]
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
