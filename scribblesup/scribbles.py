"""Scribble synthesis from dense masks (for datasets without scribbles, e.g. CamVid)."""

from __future__ import annotations

import zlib

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import skeletonize

from .energy import UNLABELLED


def sample_seed(seed: int, sample_id: str) -> int:
    """A per-sample seed that depends only on the global seed and the sample's id."""
    return (int(seed) * 1_000_003 + zlib.crc32(sample_id.encode())) % (2**32)


def _prune_spurs(skeleton: np.ndarray, length: int) -> np.ndarray:
    """Remove skeleton end points ``length`` times: drops side branches shorter than ``length``."""
    kernel = np.ones((3, 3), np.uint8)
    skeleton = skeleton.copy()
    for _ in range(length):
        neighbours = ndi.convolve(skeleton.astype(np.uint8), kernel, mode="constant") - 1
        ends = skeleton & (neighbours <= 1)
        if not ends.any():
            break
        skeleton &= ~ends
    return skeleton


def synthesize_scribbles(
    label: np.ndarray,
    seed: int = 0,
    region_fraction: float = 1.0,
    margin: float = 0.06,
    prune: float = 0.1,
    min_area: int = 64,
    width: int = 3,
    ignore_index: int = UNLABELLED,
) -> np.ndarray:
    """Draw human-like scribbles from a dense label map.

    Protocol (seeded, deterministic): for every connected region of every
    class (the void class ``ignore_index`` excluded, the background included),

    1. regions smaller than ``min_area`` pixels are left without scribble (an
       annotator skips specks), and a random ``region_fraction`` of the others
       is kept (the largest region of each class always is);
    2. the region is eroded to the pixels farther than ``margin`` x min(H, W)
       (at least 2 px) from any other class, so strokes keep away from
       boundaries as a careful annotator's do; a region that vanishes under
       erosion keeps its shape less a 1-pixel rim;
    3. the stroke follows the skeleton (medial axis) of what is left, a curved
       line along the region's shape, with side branches shorter than
       ``prune`` x min(H, W) removed (one main stroke, not a tree); a region
       whose skeleton vanishes gets a dot at its innermost point (a click);
    4. strokes are thickened to ``width`` pixels.

    Every scribbled pixel agrees with ``label`` by construction.

    Parameters
    ----------
    label : ndarray
        (H, W) integer class map.
    seed : int
        Random seed (see :func:`sample_seed` for per-image seeds).
    region_fraction : float
        Fraction of connected regions that receive a stroke.
    margin : float
        Erosion depth as a fraction of the shorter image side.
    prune : float
        Spur length removed from skeletons, as a fraction of the shorter side.
    min_area : int
        Regions smaller than this get no stroke.
    width : int
        Stroke width in pixels (odd).
    ignore_index : int
        Void value in ``label``, never scribbled.

    Returns
    -------
    ndarray
        (H, W) uint8 scribble map, 255 = unlabelled.
    """
    label = np.asarray(label)
    rng = np.random.default_rng(seed)
    side = min(label.shape)
    depth = max(2, int(round(margin * side)))
    # global region ids: connected components of each class, numbered one after another
    regions = np.zeros(label.shape, np.int64)
    offset = 0
    for c in np.unique(label):
        if c == ignore_index:
            continue
        comp, n = ndi.label(label == c)
        area = np.bincount(comp.ravel(), minlength=n + 1)[1:]
        keep = (rng.random(n) < region_fraction) & (area >= min_area)
        keep[int(area.argmax())] = area.max() >= min_area
        ids = np.where(keep, offset + 1 + np.arange(n), 0)
        regions[comp > 0] = ids[comp[comp > 0] - 1]
        offset += n
    kept = regions > 0
    if not kept.any():
        return np.full(label.shape, UNLABELLED, np.uint8)
    # distance of each pixel to the nearest pixel of another class (or void)
    boundary = np.zeros(label.shape, bool)
    boundary[:, 1:] |= label[:, 1:] != label[:, :-1]
    boundary[:, :-1] |= label[:, 1:] != label[:, :-1]
    boundary[1:, :] |= label[1:, :] != label[:-1, :]
    boundary[:-1, :] |= label[1:, :] != label[:-1, :]
    dist = ndi.distance_transform_edt(~boundary)
    inner = kept & (dist > depth)
    survived = np.zeros(offset + 1, bool)
    survived[np.unique(regions[inner])] = True
    shape = inner | (kept & ~survived[regions] & (dist > 1))
    skeleton = _prune_spurs(skeletonize(shape), int(round(prune * side)))
    # regions left without stroke get a dot at their innermost point
    has_stroke = np.zeros(offset + 1, bool)
    has_stroke[np.unique(regions[skeleton])] = True
    missing = [r for r in np.unique(regions[kept]) if not has_stroke[r]]
    if missing:
        for pos in ndi.maximum_position(dist, regions, missing):
            skeleton[pos] = True
    stroke = ndi.binary_dilation(skeleton, structure=np.ones((width, width), bool)) & kept
    # a dilated pixel may cross into a touching region of another class only
    # through a dot of a vanished region; keep the class of the pixel itself
    out = np.full(label.shape, UNLABELLED, dtype=np.uint8)
    out[stroke] = label[stroke]
    return out
