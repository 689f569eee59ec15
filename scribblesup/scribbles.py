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


_K3 = np.ones((3, 3), bool)


def _longest_path(line: np.ndarray, rng: np.random.Generator, closed: bool) -> np.ndarray:
    """The longest geodesic path (8-neighbourhood) of a thin curve or tree: one open curve, no branches.

    A ``closed`` curve (an outline, a ring's centre line) is opened first at a random pixel (its longest path would
    otherwise be half of it).
    """
    from scipy.sparse.csgraph import dijkstra

    line = line.copy()
    ys, xs = np.nonzero(line)
    if closed and len(ys) > 8:  # open it
        p = rng.integers(len(ys))
        line[max(0, ys[p] - 1): ys[p] + 2, max(0, xs[p] - 1): xs[p] + 2] = False
        ys, xs = np.nonzero(line)
    if len(ys) < 2:
        return line
    ys, xs, graph = _pixel_graph(line.astype(np.int64))
    d0 = dijkstra(graph, directed=False, indices=0)
    a = int(np.argmax(np.where(np.isfinite(d0), d0, -1)))
    d1, pred = dijkstra(graph, directed=False, indices=a, return_predecessors=True)
    b = int(np.argmax(np.where(np.isfinite(d1), d1, -1)))
    path = [b]
    while path[-1] != a and pred[path[-1]] >= 0:
        path.append(int(pred[path[-1]]))
    out = np.zeros_like(line)
    out[ys[path], xs[path]] = True
    return out


def _four_connected(path: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """``path`` with a corner pixel added at each diagonal step (at (y, x + dx), or at (y + 1, x) where that one is
    outside ``inside``): a drawn line about 1.4 px wide, as the real hand-drawn ones are."""
    out = path.copy()
    ys, xs = np.nonzero(path)
    h, w = path.shape
    for dx in (1, -1):
        ok = (ys + 1 < h) & (xs + dx >= 0) & (xs + dx < w)
        y, x = ys[ok], xs[ok]
        step = path[y + 1, x + dx]
        y, x = y[step], x[step]
        first = inside[y, x + dx]
        out[y[first], x[first] + dx] = True
        second = ~first & inside[y + 1, x]
        out[y[second] + 1, x[second]] = True
    return out


def curve_scribbles(
    label: np.ndarray,
    seed: int = 0,
    depth: float = 0.5,
    max_length: float = 1.2,
    thin: float = 0.05,
    min_area: int = 20,
    min_relative_area: float = 0.1,
    gap: int = 2,
    width: int = 1,
    ignore_index: int = UNLABELLED,
) -> np.ndarray:
    """Draw strokes whose length and shape follow human scribbles, for regions of every shape.

    Calibrated against the real hand-drawn ACDC scribbles (``experiments/stroke_realism.py``): per class, pixels
    per stroke, strokes per slice and the scribbled fraction of the class. For every connected region of every
    class (void excluded):

    1. regions under ``min_area`` pixels, or under ``min_relative_area`` of their class's largest region, get no
       stroke (an annotator marks the main parts);
    2. the stroke runs through the region's interior, the pixels deeper than ``depth`` x the region's own
       greatest depth (so a small disc keeps an interior: the margin scales with the region, not the image);
    3. a compact interior (a disc, a crescent) is drawn along its outline, a closed curve about halfway to the
       boundary, as annotators circle inside a blob; a band (an elongated or ring-shaped region) along its
       centre line (the interior's skeleton);
    4. the curve is reduced to one open path (its longest geodesic path; a loop is opened at a random place) and
       to at most ``max_length`` x min(H, W) pixels, a contiguous part at a random place;
    5. a thin band (greatest depth under ``thin`` x min(H, W)) is drawn as two arcs with a gap of ``gap`` pixels
       in the middle, as annotators trace a thin ring in pieces;
    6. strokes are ``width`` pixels wide (1: a one-pixel line, as the real ones nearly are).

    Every scribbled pixel agrees with ``label``. :func:`synthesize_scribbles` is the earlier protocol (medial axis
    with an image-relative margin), kept so that earlier tables stay reproducible.

    Returns
    -------
    ndarray
        (H, W) uint8 scribble map, 255 = unlabelled.

    Examples
    --------
    >>> yy, xx = np.mgrid[:64, :64]
    >>> disc = (np.hypot(yy - 32, xx - 32) < 12).astype(np.uint8)   # class 1 on a background 0
    >>> s = curve_scribbles(disc)
    >>> int((s == 1).sum()) > 25, bool((disc[s == 1] == 1).all())   # a curve, not a dot, inside the disc
    (True, True)
    """
    label = np.asarray(label)
    rng = np.random.default_rng(seed)
    side = min(label.shape)
    out = np.full(label.shape, UNLABELLED, np.uint8)
    for c in np.unique(label):
        if c == ignore_index:
            continue
        comp, n = ndi.label(label == c)
        areas = np.bincount(comp.ravel(), minlength=n + 1)[1:]
        for r, box in enumerate(ndi.find_objects(comp), 1):
            if areas[r - 1] < max(min_area, min_relative_area * areas.max()):
                continue
            box = tuple(slice(max(0, b.start - 1), b.stop + 1) for b in box)
            region = comp[box] == r
            dist = ndi.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]  # the image border is a boundary
            inner = dist > depth * dist.max()
            parts, k = ndi.label(inner, structure=_K3)
            if k > 1:
                inner = parts == np.bincount(parts.ravel())[1:].argmax() + 1
            holed = ndi.binary_fill_holes(inner).sum() > inner.sum()
            band = region.sum() > 3 * np.pi * dist.max() ** 2
            centre = holed or band or ndi.distance_transform_edt(inner).max() < 2
            line = skeletonize(inner) if centre else inner & ~ndi.binary_erosion(inner, structure=_K3)
            line = _four_connected(_longest_path(line, rng, closed=holed or not centre), region)
            _, position, length = stroke_coordinates(np.where(line, 0, UNLABELLED).astype(np.uint8))
            total, keep = length.max(initial=0), max_length * side
            if total > keep:
                start = rng.random() * (total - keep)
                line &= (position >= start) & (position <= start + keep)
                total = keep
            if centre and dist.max() < thin * side and total > 4 * gap:  # two arcs
                middle = np.abs(position - (position[line].min() + position[line].max()) / 2) + ~line * 1e9
                y, x = np.unravel_index(np.argmin(middle), line.shape)
                line[max(0, y - gap): y + gap + 1, max(0, x - gap): x + gap + 1] = False
            if width > 1:
                line = ndi.binary_dilation(line, structure=np.ones((width, width), bool)) & region
            out[box][line] = c
    return out


SCRIBBLE_PROTOCOLS = ("medial_axis", "curve")


def synthesize(label: np.ndarray, seed: int = 0, protocol: str = "medial_axis") -> np.ndarray:
    """Scribbles from a dense label map by ``protocol``: ``curve`` (:func:`curve_scribbles`, calibrated on human
    scribbles) or ``medial_axis`` (:func:`synthesize_scribbles`, the earlier protocol of the committed tables)."""
    if protocol == "curve":
        return curve_scribbles(label, seed=seed)
    if protocol == "medial_axis":
        return synthesize_scribbles(label, seed=seed)
    raise ValueError(f"scribble protocol must be one of {', '.join(SCRIBBLE_PROTOCOLS)}, got {protocol!r}")


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


def _pixel_graph(components: np.ndarray):
    """The 8-neighbourhood graph of the non-zero pixels of ``components`` (edges only between pixels of the same
    value, weighted by their distance): (rows, columns, sparse matrix), node i being pixel (rows[i], columns[i])."""
    from scipy.sparse import coo_matrix

    ys, xs = np.nonzero(components)
    node = np.full(components.shape, -1, np.int64)
    node[ys, xs] = np.arange(len(ys))
    rows, cols, dists = [], [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a, b = _shifted_pairs(node, dy, dx)
        ok = (a >= 0) & (b >= 0)
        a, b = a[ok], b[ok]
        same = components[ys[a], xs[a]] == components[ys[b], xs[b]]
        rows.append(a[same])
        cols.append(b[same])
        dists.append(np.full(int(same.sum()), np.hypot(dy, dx)))
    n = len(ys)
    return ys, xs, coo_matrix((np.concatenate(dists), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


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
    ys, xs, graph = _pixel_graph(strokes)
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
