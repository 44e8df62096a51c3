"""report.json, report.md and plots (matplotlib, Agg: an eval-only dependency) from eval/run.py's dict."""

import json
import time

import matplotlib

matplotlib.use("Agg")
import accuracy_metrics as m  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from findface_extraction_api.models.emotions import EMOTION_SQUARE  # noqa: E402


def pct(x, digits=1):
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def num(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write(report, out, baseline=None, baseline_path=None):
    """`baseline`: the default configuration's report.json (a dict, read from `baseline_path`), shown
    beside an option's figures."""
    out.mkdir(parents=True, exist_ok=True)
    report = dict(report, written=time.strftime("%Y-%m-%d %H:%M"))
    if baseline is not None:
        report["baseline"] = {
            "report": str(baseline_path),
            "written": baseline["written"],
            "configuration": baseline.get("configuration") or [],
        }
    plots = make_plots(report, out)
    clean = strip_private(report)
    (out / "report.json").write_text(json.dumps(clean, indent=1) + "\n")
    (out / "report.md").write_text(markdown(clean, plots, baseline))


def strip_private(value):
    if isinstance(value, dict):
        return {k: strip_private(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [strip_private(v) for v in value]
    if isinstance(value, float):
        return round(value, 5)
    return value


# ---------------------------------------------------------------- plots


LFW_SECTIONS = ("lfw", "lfw_fused", "lfw_mobilefacenet")  # the default facen, then the options (eval/run.py)
# The option facens' summary rows: (floor, published reference).
OPTION_FACEN_ROWS = {
    "lfw_fused": (">= 99.25%", "dlib ResNet 99.38% (full LFW)"),
    "lfw_mobilefacenet": (">= 98.87% (SFace's 99.17% - 0.3)", "sirius-ai MobileFaceNet 99.25+% (full LFW)"),
}


def facen_name(v):
    return (v.get("facen") or {}).get("model", "sface")


def make_plots(report, out):
    s, plots = report["sections"], {}
    lfw = [s[name] for name in LFW_SECTIONS if name in s]
    if lfw:
        fig, ax = plt.subplots(figsize=(5, 4))
        low = 0.95
        for v in lfw:
            far, tar = np.array(v["_plot"]["far"]), np.array(v["_plot"]["tar"])
            label = f"{facen_name(v)}: AUC {v['roc_auc']:.4f}"
            ax.plot(np.maximum(far, 1e-4), tar, drawstyle="steps-post", label=label)
            low = min(low, tar[far <= 1e-3].max() - 0.05)
        ax.set_xscale("log")
        ax.set_xlim(1e-3 / 2, 1)
        ax.set_ylim(max(0.0, low), 1.002)  # the interesting part
        ax.set_xlabel("false accept rate")
        ax.set_ylabel("true accept rate")
        ax.set_title(f"LFW folds 1-2, {lfw[0]['pairs']} pairs")
        ax.legend(loc="lower right")
        ax.grid(True, which="both", alpha=0.3)
        plots[next(name for name in LFW_SECTIONS if name in s)] = save(fig, out, "lfw_roc.png")
    if "utkface" in s:
        u = s["utkface"]["nnd"]
        bands = list(u["by_band"])
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
        a1.bar(bands, [u["by_band"][b]["age_mae"] for b in bands], color="tab:blue")
        a1.set_title(f"age MAE by band (overall {u['age_mae']:.2f} y)")
        a1.set_ylabel("years")
        a2.bar(bands, [100 * u["by_band"][b]["gender_accuracy"] for b in bands], color="tab:orange")
        a2.set_ylim(50, 100)
        a2.set_title(f"gender accuracy by band (overall {100 * u['gender_accuracy']:.1f}%)")
        for ax in (a1, a2):
            ax.tick_params(axis="x", rotation=45)
        plots["utkface"] = save(fig, out, "utkface_by_age_band.png")
    if "fer2013" in s:
        way = recommended_emotion_way(s["fer2013"])
        plots["fer2013"] = confusion_plot(
            s["fer2013"][way],
            out,
            "fer2013_confusion.png",
            f"FER2013 PrivateTest ({way}): {pct(s['fer2013'][way]['accuracy'])}",
        )
    if "ckplus" in s:
        way = recommended_emotion_way(s["fer2013"]) if "fer2013" in s else "square"
        c = s["ckplus"][way]["per_sequence_majority"]
        plots["ckplus"] = confusion_plot(
            c, out, "ckplus_confusion.png", f"CK+ per sequence, majority ({way}): {pct(c['accuracy'])}", drop_empty=True
        )
    if "detection" in s and "fddb" in s["detection"]:
        f = s["detection"]["fddb"]
        labels = m.size_labels((30, 60, 120))
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        width = 0.2
        for i, (det, rule) in enumerate((("nnd", "box"), ("nnd", "ellipse"), ("legacy", "box"), ("legacy", "ellipse"))):
            if det not in f:
                continue
            values = [f[det][rule]["recall_by_size"][k]["recall"] or 0 for k in labels]
            ax.bar(np.arange(len(labels)) + (i - 1.5) * width, values, width, label=f"{det}, {rule}")
        ax.set_xticks(range(len(labels)), [f"{k}\n({f['nnd']['box']['recall_by_size'][k]['faces']})" for k in labels])
        ax.set_xlabel("face width, px (faces)")
        ax.set_ylabel("recall at IoU >= 0.5")
        ax.set_title("FDDB subset: recall by face size")
        ax.legend(fontsize=7)
        plots["detection"] = save(fig, out, "fddb_recall_by_size.png")
    return plots


def confusion_plot(fig_data, out, name, title, drop_empty=False):
    matrix = np.array(fig_data["confusion"], float)
    labels = list(fig_data["labels"])
    rows = [i for i in range(len(labels)) if not drop_empty or matrix[i].sum() > 0]
    matrix = matrix[rows]
    normalised = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.6))
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(
                j,
                i,
                f"{int(matrix[i, j])}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if normalised[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(labels)), labels, rotation=45)
    ax.set_yticks(range(len(rows)), [labels[i] for i in rows])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return save(fig, out, name)


def save(fig, out, name):
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name


def recommended_emotion_way(section):
    return (
        "square"
        if "square" in section
        else next(k for k in section if isinstance(section[k], dict) and "accuracy" in section[k])
    )


# ---------------------------------------------------------------- markdown


def markdown(r, plots, baseline=None):
    s = r["sections"]
    d = r.get("daemon") or {}
    t = r["transport"]
    md = [
        f"# Accuracy on public benchmarks{' (quick subset)' if r['quick'] else ''}",
        "",
        f"Written by `eval/run.py` ({'`make eval-quick`' if r['quick'] else '`make eval`'}) on {r['written']}: "
        f"{d.get('name', '?')} {d.get('version', '?')}, "
        f"{', '.join(f'`{c}`' for c in r.get('configuration') or []) or 'default configuration'}, "
        f"{d.get('model_instances', '?')} "
        f"model instance(s) x {d.get('threads_per_instance', '?')} thread(s) on {t['cpus']} CPU(s), facen "
        f"{(d.get('facen') or {}).get('model', '?')} in {(d.get('facen') or {}).get('precision', 'float32')}, "
        f"age, gender and emotions in {(d.get('attributes') or {}).get('precision', 'float32')}. "
        "Every image went "
        f"through `POST /` as multipart, {t['requests_per_envelope']} requests per envelope, "
        f"{t['clients']} concurrent clients. Total run time {r['total_seconds']:.0f} s. Data: the research-only "
        "subsets in `../shared/eval-data` (never copied here; see their SOURCE.md files). "
        "Benchmark figures are not evidence of fitness for any commercial purpose (see LFW's disclaimer).",
        "",
    ]
    md += summary(s)
    if sum(name in s for name in LFW_SECTIONS) > 1:
        md += facens_md([s[name] for name in LFW_SECTIONS if name in s]) + [""]
    if baseline is not None:
        md += against_baseline(s, baseline, r["baseline"]["report"])
    for name, fn in (
        ("lfw", lfw_md),
        ("lfw_fused", lfw_md),
        ("lfw_mobilefacenet", lfw_md),
        ("detection", detection_md),
        ("utkface", utk_md),
        ("fer2013", fer_md),
        ("ckplus", ck_md),
        ("liveness", liveness_md),
    ):
        if name in s:
            md += fn(s[name], plots.get(name)) + [""]
    md += throughput_md(s)
    return "\n".join(md) + "\n"


def summary(s):
    return ["## Summary", "", table(("figure", "measured", "issue's floor", "reference"), summary_rows(s)), ""]


def summary_rows(s):
    rows = []
    if "lfw" in s:
        rows.append(
            (
                "LFW verification accuracy (cross-fold threshold)",
                pct(s["lfw"]["accuracy"], 2),
                ">= 99.0%",
                "SFace 99.40% (full LFW)",
            )
        )
    for name, (floor, reference) in OPTION_FACEN_ROWS.items():
        if name in s:
            rows.append(
                (
                    f"LFW accuracy, facen {facen_name(s[name])} (cross-fold threshold)",
                    pct(s[name]["accuracy"], 2),
                    floor,
                    reference,
                )
            )
    if "detection" in s:
        f = s["detection"]["fddb"]["nnd"]
        rows.append(("FDDB recall, nnd, ellipse protocol IoU >= 0.5", pct(f["ellipse"]["recall"]), ">= 90%", ""))
        rows.append(("FDDB recall, nnd, plain box IoU >= 0.5", pct(f["box"]["recall"]), "", ""))
    if "utkface" in s:
        u = s["utkface"]["nnd"]
        rows.append(("UTKFace gender accuracy (nnd)", pct(u["gender_accuracy"]), ">= 90%", "dlib 97.3% (LFW, adults)"))
        rows.append(("UTKFace gender accuracy, age >= 20", pct(u["gender_accuracy_age_20_plus"]), "", ""))
        rows.append(("UTKFace age MAE (nnd)", f"{u['age_mae']:.2f} y", "", "~4.7 y"))
    if "fer2013" in s:
        way = recommended_emotion_way(s["fer2013"])
        rows.append(
            (f"FER2013 PrivateTest accuracy ({way})", pct(s["fer2013"][way]["accuracy"]), ">= 60%", "mini-Xception 66%")
        )
    if "ckplus" in s:
        rows.append(
            (
                "CK+ accuracy per sequence, majority (square)",
                pct(s["ckplus"]["square"]["per_sequence_majority"]["accuracy"]),
                "",
                "",
            )
        )
    if "liveness" in s:
        lv = s["liveness"]
        rows.append(
            (
                "NUAA liveness accuracy",
                pct(lv["accuracy"]) if lv.get("installed") else "liveness: not installed",
                "",
                "",
            )
        )
    return rows


def against_baseline(s, baseline, path):
    """This configuration's figures beside the default configuration's, for the sections run here."""
    b = {k: v for k, v in baseline["sections"].items() if k in s}
    default = {row[0]: row[1] for row in summary_rows(b)}
    configuration = ", ".join(f"`{c}`" for c in baseline.get("configuration") or []) or "default configuration"
    md = [
        "## Against the default configuration",
        "",
        f"The same sections of `{path}` ({configuration}, written {baseline['written']}), "
        "measured the same way on the same data.",
        "",
        table(
            ("figure", "default configuration", "this configuration"),
            [(row[0], default.get(row[0], "–"), row[1]) for row in summary_rows(s)],
        ),
        "",
    ]
    if all(k in s and k in b for k in ("fer2013", "ckplus")):
        md += emotion_comparison(b, s)
    if "utkface" in s and "utkface" in b:
        bands = s["utkface"]["nnd"]["by_band"]
        md += [
            "Age MAE by band (nnd), years:",
            "",
            table(
                ("band", "default configuration", "this configuration"),
                [
                    (k, f"{b['utkface']['nnd']['by_band'][k]['age_mae']:.2f}", f"{x['age_mae']:.2f}")
                    for k, x in bands.items()
                ],
            ),
            "",
        ]
    return md


def emotion_comparison(b, s):
    """Per-class recalls (square) beside the default's: where an emotion setting gains and loses."""
    fer = [x["fer2013"]["square"] for x in (b, s)]
    ck = [x["ckplus"]["square"] for x in (b, s)]
    majority = ck[1]["per_sequence_majority"]
    sequences = dict(zip(majority["labels"], (sum(row) for row in majority["confusion"]), strict=True))
    rows = [
        (
            k,
            *(pct(f["per_class_recall"][k], 0) for f in fer),
            sequences[k] or "–",
            *(pct(c["per_sequence_majority"]["per_class_recall"][k], 0) for c in ck),
        )
        for k in m.EMOTIONS
    ]
    rows.append(
        (
            "**all**",
            *(pct(f["accuracy"]) for f in fer),
            majority["n"],
            *(pct(c["per_sequence_majority"]["accuracy"]) for c in ck),
        )
    )
    return [
        "Recall by class (square): FER2013 PrivateTest per image, CK+ per sequence (majority of 3 frames; "
        "CK+ has no neutral class). CK+ per frame: "
        f"{pct(ck[0]['per_frame']['accuracy'])} default, {pct(ck[1]['per_frame']['accuracy'])} here; "
        f"per sequence by the last frame: {pct(ck[0]['per_sequence_last_frame']['accuracy'])} default, "
        f"{pct(ck[1]['per_sequence_last_frame']['accuracy'])} here.",
        "",
        table(("class", "FER2013, default", "FER2013, this", "CK+ sequences", "CK+, default", "CK+, this"), rows),
        "",
    ]


def facens_md(sections):
    """The facens side by side on the same pairs."""
    rows = [
        ("accuracy, cross-fold", *(pct(v["accuracy"], 2) for v in sections)),
        ("TAR at FAR 1e-3", *(pct(v["tar_at_far_1e-3"]["tar"], 2) for v in sections)),
        ("TAR at FAR 1e-2", *(pct(v["tar_at_far_1e-2"]["tar"], 2) for v in sections)),
        ("ROC AUC", *(f"{v['roc_auc']:.5f}" for v in sections)),
        (
            "accuracy at the shipped same-person threshold",
            *(
                f"{pct(v['at_shipped_threshold']['accuracy'], 2)} (at {v['at_shipped_threshold']['threshold']})"
                for v in sections
            ),
        ),
        ("images/s in this run", *(f"{v['throughput']['images_per_s']:.1f}" for v in sections)),
    ]
    return [
        "## Facens side by side: LFW View 2, folds 1–2",
        "",
        "The same pairs through daemons that differ only in `[facen] model` (README, configuration).",
        "",
        table(("figure", *(f"`{facen_name(v)}`" for v in sections)), rows),
    ]


def lfw_md(v, plot):
    md = [
        f"## Verification: LFW View 2, folds 1–2, facen `{facen_name(v)}`",
        "",
        f"{v['pairs']} pairs, {v['images']} images, `detector: nnd`, `need_facen: true`; the face whose box centre "
        "is nearest the image centre; score = dot product of the two facens. A missing face gives the pair "
        f"score −1 (counted as 'different'): {v['no_face_images']} images without a face, "
        f"{v['pairs_without_facen']} pairs affected. The threshold is chosen (best accuracy) on one fold and "
        "tested on the other, and vice versa; the accuracy is the mean of the two.",
        "",
        table(
            ("figure", "value"),
            [
                *[(k, f"{pct(x['accuracy'], 2)} (threshold {x['threshold']:.3f})") for k, x in v["per_fold"].items()],
                ("accuracy, cross-fold (mean)", pct(v["accuracy"], 2)),
                ("errors at the cross-fold thresholds", v["errors_at_cross_fold_threshold"]),
                *(
                    [
                        (
                            "accuracy at the shipped same-person threshold",
                            f"{pct(v['at_shipped_threshold']['accuracy'], 2)} "
                            f"(threshold {v['at_shipped_threshold']['threshold']})",
                        )
                    ]
                    if "at_shipped_threshold" in v
                    else []
                ),
                (
                    "TAR at FAR 1e-3",
                    f"{pct(v['tar_at_far_1e-3']['tar'], 2)} (threshold {v['tar_at_far_1e-3']['threshold']:.3f}; "
                    f"with {v['tar_at_far_1e-3']['impostor_pairs']} impostor pairs this is FAR = 0)",
                ),
                (
                    "TAR at FAR 1e-2",
                    f"{pct(v['tar_at_far_1e-2']['tar'], 2)} (threshold {v['tar_at_far_1e-2']['threshold']:.3f})",
                ),
                ("ROC AUC", f"{v['roc_auc']:.5f}"),
            ],
        ),
        "",
    ]
    if plot:
        md += [f"![LFW ROC]({plot})"]
    return md


def detection_md(v, plot):
    md = [
        "## Detection: FDDB subset and dlib's example faces",
        "",
        "Every image whole, default configuration (`[nnd] min_face_size = 30`), no attributes. Matching: detections "
        "by falling `detection_score`, each to the unmatched ground-truth face it overlaps most if the overlap is "
        "≥ 0.5; unmatched detections are false positives. Two overlap rules on FDDB:",
        "",
        "- **box**: plain IoU between the detected box and the axis-aligned box of the FDDB ellipse "
        "(`boxes_subset.csv`). The ellipse covers forehead to chin, so its box is taller than YuNet's and dlib's "
        "face boxes: this rule under-counts.",
        "- **ellipse** (FDDB's own discrete protocol): IoU between the detected rectangle and the ellipse as "
        "pixel regions, both rasterised on the image grid. This is the figure to compare with published FDDB "
        "discrete scores. No box adjustment (no fitted regression from our boxes to ellipses) is applied.",
        "",
        "dlib's boxes are tight, square face boxes: box rule only. Face size = width of the ground-truth box; "
        "false positives are binned by the detection's width.",
        "",
    ]
    for set_name in ("fddb", "dlib_faces"):
        if set_name not in v:
            continue
        x = v[set_name]
        rows = []
        for det in ("nnd", "legacy"):
            if det not in x:
                continue
            for rule in ("box", "ellipse"):
                if rule in x[det]:
                    y = x[det][rule]
                    rows.append(
                        (
                            det,
                            rule,
                            pct(y["recall"]),
                            pct(y["precision"]),
                            f"{y['fp_per_image']:.3f}",
                            y["true_positives"],
                            y["false_positives"],
                            " · ".join(
                                f"{k}: {pct(z['recall'], 0)} ({z['faces']})" for k, z in y["recall_by_size"].items()
                            ),
                            " · ".join(f"{k}: {n}" for k, n in y["fp_by_detection_size"].items()),
                        )
                    )
        md += [
            f"### {set_name}: {x['images']} images, {x['faces']} faces",
            "",
            table(
                (
                    "detector",
                    "rule",
                    "recall",
                    "precision",
                    "FP/image",
                    "TP",
                    "FP",
                    "recall by face width (faces)",
                    "FP by detection width",
                ),
                rows,
            ),
            "",
        ]
    if plot:
        md += [f"![FDDB recall by size]({plot})"]
    return md


def utk_md(v, plot):
    md = [
        "## Age and gender: UTKFace (200x200 chips)",
        "",
        f"{v['images']} chips (63 per 10-year band x gender). Ways of feeding them, each measured on all chips:",
        "",
        "- **nnd** (used for the figures above): the chip as it is, whole-image detection, the face nearest the "
        "centre. Detection failures are counted; a fallback is only needed when there are any.",
        "- **prenormalized**: the chip posted as if it were our normalized face. It is not (UTKFace chips are "
        "dlib-aligned with a different template and margin), so the age and gender chips are cut from the wrong "
        "place: shown only to document that it must not be used.",
        "- **dlib-chip**: the chip taken as a dlib face chip (padding 0.25) and warped into our normalized-face "
        "geometry so that the daemon's fixed age/gender crops are exactly its centre (`detector: prenormalized`, "
        "no landmarks). Same geometry as the model's training chips, our resampling.",
        "- **nnd+fallback**: nnd, and dlib-chip for the chips where nnd finds no face.",
        "",
        table(
            ("way", "faces", "no face", "age MAE", "age bias", "gender", "gender, age ≥ 20"),
            [
                (
                    w,
                    v[w]["faces"],
                    v[w]["no_face"],
                    f"{v[w]['age_mae']:.2f}",
                    f"{v[w]['age_bias']:+.2f}",
                    pct(v[w]["gender_accuracy"]),
                    pct(v[w]["gender_accuracy_age_20_plus"]),
                )
                for w in ("nnd", "dlib-chip", "prenormalized", "nnd+fallback")
                if w in v
            ],
        ),
        "",
        "By 10-year band (nnd):",
        "",
        table(
            ("band", "n", "age MAE", "gender"),
            [(b, x["n"], f"{x['age_mae']:.2f}", pct(x["gender_accuracy"])) for b, x in v["nnd"]["by_band"].items()],
        ),
        "",
        "Gender by race (nnd; UTKFace's labels, unbalanced):",
        "",
        table(
            ("race", "n", "gender"), [(k, x["n"], pct(x["accuracy"])) for k, x in v["nnd"]["gender_by_race"].items()]
        ),
        "",
        "The age model's classes stop at 80 years, so every face over 80 is under-estimated by construction.",
        "",
    ]
    if plot:
        md += [f"![UTKFace by age band]({plot})"]
    return md


_LEFT, _TOP, _SIDE = EMOTION_SQUARE
WAYS_MD = [
    "- **square** (recommended): a 256x256 'normalized face' whose fixed emotion square "
    f"(`models/emotions.py` `EMOTION_SQUARE`, x {_LEFT:.0f}–{_LEFT + _SIDE:.0f}, y {_TOP:.0f}–{_TOP + _SIDE:.0f}) "
    "is exactly the 48x48 crop (bicubic), "
    "`detector: prenormalized`: the emotion model sees the whole crop, as fer does with its own "
    "square face box, and as mini-Xception was trained on FER2013.",
    "- **nnd**: the crop upscaled 4x (bicubic, 192 px), padded 64 px by edge replication, whole-image "
    "detection, the face nearest the centre; no face = wrong.",
    "- **whole**: the 48x48 crop posted as it is with `detector: prenormalized` (resized to 256, then the "
    f"emotion square keeps x {_LEFT:.0f}–{_LEFT + _SIDE:.0f} and y {_TOP:.0f}–{_TOP + _SIDE:.0f} of it).",
]


def fer_md(v, plot):
    ways = [w for w in ("square", "nnd", "whole") if w in v]
    labels = m.EMOTIONS
    md = [
        "## Emotions: FER2013 PrivateTest",
        "",
        f"{v['images']} 48x48 grey crops, three ways of feeding them:",
        "",
        *WAYS_MD,
        "",
        table(
            ("way", "accuracy", "no face", "accuracy on detected", *labels),
            [
                (
                    w,
                    pct(v[w]["accuracy"]),
                    v[w]["no_face"],
                    pct(v[w]["accuracy_on_detected"]),
                    *(pct(v[w]["per_class_recall"][k], 0) for k in labels),
                )
                for w in ways
            ],
        ),
        "",
        "Per-class columns are recalls. Confusion matrix (square; rows true, columns predicted):",
        "",
    ]
    if "square" in v:
        md += [
            table(
                ("true \\ predicted", *labels), [(labels[i], *row) for i, row in enumerate(v["square"]["confusion"])]
            ),
            "",
        ]
    if plot:
        md += [f"![FER2013 confusion]({plot})"]
    return md


def ck_md(v, plot):
    ways = [w for w in ("square", "nnd", "whole") if isinstance(v.get(w), dict)]
    labels = m.EMOTIONS
    md = [
        "## Emotions: CK+48",
        "",
        f"{v['frames']} frames = the last 3 frames of {v['sequences']} sequences, {v['subjects']} subjects, fed the "
        "same three ways as FER2013. Labels mapped to ours: anger → angry, sadness → sad, the others by name; "
        "**contempt** has no counterpart in our 7 labels, so its sequences are left out of the accuracy (what "
        "they are predicted as is listed). CK+ has no neutral class, so a 'neutral' answer is always wrong. "
        "Per sequence: **majority** of the 3 frames' top emotions (a tie goes to the latest frame among the tied "
        "labels) and **last frame** (the peak).",
        "",
        table(
            (
                "way",
                "per sequence, majority",
                "per sequence, last frame",
                "per frame",
                *labels,
                "contempt predicted as",
            ),
            [
                (
                    w,
                    pct(v[w]["per_sequence_majority"]["accuracy"]),
                    pct(v[w]["per_sequence_last_frame"]["accuracy"]),
                    pct(v[w]["per_frame"]["accuracy"]),
                    *(pct(v[w]["per_sequence_majority"]["per_class_recall"][k], 0) for k in labels),
                    ", ".join(f"{k} {n}" for k, n in v[w]["contempt_sequences_predicted_as"].items()),
                )
                for w in ways
            ],
        ),
        "",
    ]
    if plot:
        md += [f"![CK+ confusion]({plot})"]
    return md


def liveness_md(v, plot):
    if not v.get("installed"):
        return [
            "## Liveness: NUAA",
            "",
            f"liveness: not installed (probe answered: `{json.dumps(v.get('probe_error'))}`); skipped.",
        ]
    worst = sorted(v["per_subject"].items(), key=lambda kv: kv[1]["accuracy"])[:5]
    return [
        "## Liveness: NUAA (print attacks only)",
        "",
        f"{v['images']} frames 640x480 ({v['real']} real, {v['spoof']} print attacks), `need_liveness: true`, "
        "`detector: nnd`, the face nearest the centre, judged by the answer's `liveness.value` (REAL/FAKE at the "
        "configured threshold). No face counts as not accepted (a rejected attack, or a rejected real face). "
        "APCER = attacks accepted as real; BPCER = real faces rejected.",
        "",
        table(
            ("figure", "value"),
            [
                ("accuracy", pct(v["accuracy"])),
                ("APCER", pct(v["apcer"], 2)),
                ("BPCER", pct(v["bpcer"], 2)),
                ("ACER", pct(v["acer"], 2)),
                ("ROC AUC of liveness.score", f"{v['roc_auc']:.4f}"),
                ("frames without a face", v["no_face"]),
                ("subjects under 50% correct", v["subjects_worse_than_50pct"]),
            ],
        ),
        "",
        "Per subject (the 5 worst; all in report.json): "
        + ", ".join(f"{k} {pct(x['accuracy'], 0)} of {x['n']}" for k, x in worst)
        + ". Frames of one session are "
        "highly correlated: the per-image figures overstate the evidence.",
    ]


def throughput_md(s):
    rows = []
    for name, v in s.items():
        for path, tp in walk_throughput(v, name):
            rows.append((path, tp["images"], f"{tp['seconds']:.1f}", f"{tp['images_per_s']:.1f}"))
    return [
        "## Throughput seen during the run",
        "",
        "Images per second through the HTTP API during each pass (the whole client-daemon loop on a shared "
        "machine; read together with the accuracy of that pass, not as a benchmark — see `make bench`).",
        "",
        table(("pass", "images", "seconds", "images/s"), rows),
    ]


def walk_throughput(v, path):
    if isinstance(v, dict):
        if "throughput" in v and isinstance(v["throughput"], dict):
            yield path, v["throughput"]
        for k, x in v.items():
            if isinstance(x, dict) and k != "throughput":
                yield from walk_throughput(x, f"{path} / {k}")
