"""Scribble synthesis from dense masks (for datasets without scribbles, e.g. CamVid)."""

from __future__ import annotations

import zlib

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import skeletonize

from .conventions import UNLABELLED


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


# ---------------------------------------------------------------- polylines

def rasterize_polylines(polylines, shape, width: int = 3, fill: int = UNLABELLED) -> np.ndarray:
    """Draw class-labelled polylines into a label map.

    Parameters
    ----------
    polylines : iterable of (class_id, points)
        ``points``: (P, 2) array of (x, y) vertices; one point draws a dot.
    shape : (H, W)
        Output size.
    width : int
        Line width in pixels (PASCAL-Scribble's rasterised release uses 3).
    fill : int
        Value of undrawn pixels.

    Returns
    -------
    ndarray
        (H, W) uint8 map; later polylines overwrite earlier ones where they cross.
    """
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (int(shape[1]), int(shape[0])), color=fill)
    draw = ImageDraw.Draw(canvas)
    r = (width - 1) / 2
    for class_id, points in polylines:
        pts = [(float(x), float(y)) for x, y in np.asarray(points, dtype=np.float64).reshape(-1, 2)]
        if len(pts) > 1:
            draw.line(pts, fill=int(class_id), width=int(width), joint="curve")
        if width <= 1:
            draw.point(pts[:1], fill=int(class_id))  # a one-point scribble is a dot
        else:
            for x, y in pts[:1] + pts[-1:]:  # round caps
                draw.ellipse((x - r, y - r, x + r, y + r), fill=int(class_id))
    return np.asarray(canvas, dtype=np.uint8)


# ---------------------------------------------------------------- shrinking scribbles, clicks


def _shifted_pairs(arr: np.ndarray, dy: int, dx: int):
    """Values of ``arr`` at (y, x) and (y + dy, x + dx) for every pixel where both exist (dy >= 0)."""
    h, w = arr.shape
    a = arr[: h - dy, max(0, -dx): w - max(0, dx)]
    b = arr[dy:, max(0, dx): w - max(0, -dx)]
    return a.ravel(), b.ravel()


def stroke_coordinates(scribble: np.ndarray):
    """Split a scribble map into strokes and measure each pixel's position along its stroke.

    A stroke is a connected component (8-neighbourhood) of pixels of one class.
    A pixel's coordinate is its geodesic distance, inside the stroke, from one
    end of the stroke (the pixel farthest from an arbitrary start, the usual
    double sweep).

    Returns
    -------
    strokes : ndarray
        (H, W) int stroke id, 0 = no scribble, 1..S.
    position : ndarray
        (H, W) float geodesic distance from the stroke's end (0 outside strokes).
    length : ndarray
        (S + 1,) length of each stroke (index 0 unused).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    scribble = np.asarray(scribble)
    strokes = np.zeros(scribble.shape, np.int64)
    count = 0
    for c in np.unique(scribble[scribble != UNLABELLED]):
        comp, n = ndi.label(scribble == c, structure=np.ones((3, 3), bool))
        strokes[comp > 0] = comp[comp > 0] + count
        count += n
    position = np.zeros(scribble.shape)
    length = np.zeros(count + 1)
    if count == 0:
        return strokes, position, length
    ys, xs = np.nonzero(strokes)
    node = np.full(scribble.shape, -1, np.int64)
    node[ys, xs] = np.arange(len(ys))
    rows, cols, dists = [], [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a, b = _shifted_pairs(node, dy, dx)
        ok = (a >= 0) & (b >= 0)
        a, b = a[ok], b[ok]
        same = strokes[ys[a], xs[a]] == strokes[ys[b], xs[b]]
        rows.append(a[same])
        cols.append(b[same])
        dists.append(np.full(int(same.sum()), np.hypot(dy, dx)))
    n_nodes = len(ys)
    graph = coo_matrix((np.concatenate(dists), (np.concatenate(rows), np.concatenate(cols))), shape=(n_nodes, n_nodes))
    labels = strokes[ys, xs]
    first = np.unique(labels, return_index=True)[1]
    d0 = dijkstra(graph, directed=False, indices=first, min_only=True)
    order = np.lexsort((d0, labels))
    last_of_stroke = np.r_[np.flatnonzero(np.diff(labels[order])), len(order) - 1]
    ends = order[last_of_stroke]
    d1 = dijkstra(graph, directed=False, indices=ends, min_only=True)
    position[ys, xs] = d1
    length[1:] = ndi.maximum(d1, labels, np.arange(1, count + 1))
    return strokes, position, length


def shrink_scribbles(scribble: np.ndarray, ratio: float, seed: int = 0) -> np.ndarray:
    """Keep a contiguous part of each stroke, ``ratio`` of its length (the ScribbleSup length ablation).

    Parameters
    ----------
    scribble : ndarray
        (H, W) scribble map, 255 = unlabelled.
    ratio : float
        1 keeps everything; 0.5, 0.3, 0.1 keep that fraction of each stroke's
        length, at a random place along it; 0 reduces each stroke to a click
        (one pixel at a random place along it).
    seed : int
        Random seed: the same seed gives the same result.

    Returns
    -------
    ndarray
        The shrunk scribble map.
    """
    if not 0 <= ratio <= 1:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    scribble = np.asarray(scribble)
    if ratio == 1:
        return scribble.copy()
    strokes, position, length = stroke_coordinates(scribble)
    rng = np.random.default_rng(seed)
    keep_len = ratio * length
    start = rng.random(len(length)) * (length - keep_len)
    out = np.full(scribble.shape, UNLABELLED, np.uint8)
    ys, xs = np.nonzero(strokes)
    s = strokes[ys, xs]
    t = position[ys, xs]
    if ratio > 0:
        kept = (t >= start[s]) & (t <= start[s] + keep_len[s])
        out[ys[kept], xs[kept]] = scribble[ys[kept], xs[kept]]
        return out
    # clicks: per stroke, the pixel whose position is nearest the random point
    gap = np.abs(t - start[s])
    order = np.lexsort((gap, s))
    firsts = order[np.r_[0, np.flatnonzero(np.diff(s[order])) + 1]]
    out[ys[firsts], xs[firsts]] = scribble[ys[firsts], xs[firsts]]
    return out
