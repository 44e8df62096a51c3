"""Pure metric functions for eval/run.py: no HTTP, no files, numpy only (unit-testable)."""

import numpy as np

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # FER2013's order


# ---------------------------------------------------------------- verification


def best_threshold(scores, same):
    """The threshold (accept score > t) with the best accuracy on these pairs: midpoints between
    sorted scores, ties broken towards the middle of the best run."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    order = np.sort(np.unique(scores))
    candidates = np.concatenate([[order[0] - 1e-6], (order[:-1] + order[1:]) / 2, [order[-1] + 1e-6]])
    accuracy = np.array([np.mean((scores > t) == same) for t in candidates])
    best = np.flatnonzero(accuracy == accuracy.max())
    return float(candidates[best[len(best) // 2]])


def accuracy_at(scores, same, threshold):
    return float(np.mean((np.asarray(scores) > threshold) == np.asarray(same, bool)))


def roc_auc(scores, same):
    """Area under the ROC curve = P(score of a same pair > score of a different pair), ties half."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    pos, neg = scores[same], scores[~same]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def tar_at_far(scores, same, far):
    """(TAR, threshold, achieved FAR): the lowest threshold whose false accepts are at most
    floor(far * impostors); with 600 impostor pairs, FAR 1e-3 therefore means no false accept."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    neg = np.sort(scores[~same])[::-1]
    allowed = int(np.floor(far * len(neg)))
    threshold = float(neg[allowed]) if allowed < len(neg) else float(neg[-1]) - 1e-6
    return (float(np.mean(scores[same] > threshold)), threshold, float(np.mean(neg > threshold)))


def roc_curve(scores, same):
    """(FAR array, TAR array) over every distinct threshold, for plotting."""
    scores, same = np.asarray(scores, float), np.asarray(same, bool)
    thresholds = np.concatenate([[np.inf], np.sort(np.unique(scores))[::-1], [-np.inf]])
    far = np.array([np.mean(scores[~same] >= t) for t in thresholds])
    tar = np.array([np.mean(scores[same] >= t) for t in thresholds])
    return far, tar


# ---------------------------------------------------------------- detection


def box_iou(a, b):
    """IoU of boxes (left, top, right, bottom)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ellipse_mask(shape, ellipse):
    """Boolean mask of an FDDB ellipse (major radius, minor radius, angle rad, cx, cy), clipped to the image.
    As FDDB's own evaluation does, the region is rasterised on the image's pixel grid."""
    a, b, angle, cx, cy = ellipse
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
    dx, dy = xs - cx, ys - cy
    c, s = np.cos(angle), np.sin(angle)
    u, v = dx * c + dy * s, -dx * s + dy * c
    return (u / a) ** 2 + (v / b) ** 2 <= 1.0


def box_mask(shape, box):
    mask = np.zeros(shape, bool)
    left, top, right, bottom = (int(round(v)) for v in box)
    mask[max(0, top) : max(0, bottom), max(0, left) : max(0, right)] = True
    return mask


def region_iou(mask_a, mask_b):
    union = np.logical_or(mask_a, mask_b).sum()
    return float(np.logical_and(mask_a, mask_b).sum() / union) if union else 0.0


def greedy_match(overlap, scores, threshold=0.5):
    """Detections (rows of `overlap`, detection x truth) taken by falling score, each matched to the
    unmatched truth it overlaps most if that overlap >= threshold. Returns (matched truth index or
    -1 per detection)."""
    overlap = np.asarray(overlap, float)
    n_det = overlap.shape[0]
    taken = np.zeros(overlap.shape[1] if overlap.ndim == 2 else 0, bool)
    match = np.full(n_det, -1)
    for d in np.argsort(-np.asarray(scores, float), kind="stable"):
        if not len(taken):
            break
        candidates = np.where(taken, -1.0, overlap[d])
        t = int(np.argmax(candidates))
        if candidates[t] >= threshold:
            match[d], taken[t] = t, True
    return match


def size_bin(width, edges):
    """Label of the bin of `edges` (ascending) that width falls into, e.g. '<30', '30-60', '>=120'."""
    if width < edges[0]:
        return f"<{edges[0]}"
    for low, high in zip(edges, edges[1:], strict=False):
        if width < high:
            return f"{low}-{high}"
    return f">={edges[-1]}"


def size_labels(edges):
    return [f"<{edges[0]}"] + [f"{a}-{b}" for a, b in zip(edges, edges[1:], strict=False)] + [f">={edges[-1]}"]


# ---------------------------------------------------------------- classification


def confusion(truth, predicted, labels):
    """Matrix [true][predicted] of counts; predictions outside `labels` (None: no face) are dropped
    here and counted by the caller."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), int)
    for t, p in zip(truth, predicted, strict=False):
        if t in index and p in index:
            matrix[index[t], index[p]] += 1
    return matrix


def per_class_recall(truth, predicted, labels):
    out = {}
    for label in labels:
        picked = [p for t, p in zip(truth, predicted, strict=False) if t == label]
        out[label] = float(np.mean([p == label for p in picked])) if picked else None
    return out


def age_band(age):
    return "80+" if age >= 80 else f"{age // 10 * 10}-{age // 10 * 10 + 9}"


AGE_BANDS = [f"{a}-{a + 9}" for a in range(0, 80, 10)] + ["80+"]
