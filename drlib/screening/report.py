"""A screening run's results: one record per graded photograph, the overlays, and the batch files.

Per photograph (:class:`ImageResult`): the probability of every grade on the model's label scale,
the predicted grade (the most probable), the expected grade ``sum_k k p_k``, the referable score
``P(grade >= 2) = p_2 + p_3 + p_4`` (:func:`drlib.metrics.referable.referable_score`) and the
referable flag, ``P(grade >= 2) >= 0.5`` (:data:`REFERABLE_THRESHOLD`). ``drlib explain`` adds two
PNG overlays on the image the model saw (its input, after preprocessing):

* the class activation map of the predicted grade, upsampled to pixels, in the paper's
  green-yellow-red range (:data:`drlib.plotting.PAPER_CMAP`), scaled to its own range inside the
  field of view;
* the saliency map ``max_c |dS_k/dI|`` in a perceptually uniform map
  (:data:`drlib.plotting.PERCEPTUAL_CMAP`), clipped at its 99th percentile inside the field of view
  for display only (:data:`SALIENCY_DISPLAY_PERCENTILE`): a few extreme pixels would otherwise set
  the colour scale and leave the rest dark.

Every output also states the model's known limitation, computed from its manifest
(:func:`known_limitation`): its recall per grade on its synthetic validation split, and the grade
it most often gives instead of the one it recognises worst.

For the batch: ``results.csv`` (one row per graded photograph), ``summary.json`` (the model, its
weights' SHA-256, the scale, counts, every skipped file with the reason, the disclaimer) and
``report.html``, one page with inline styles and no external resources: the photographs' inputs
as thumbnails, the grades, the overlays (linked PNGs beside it, or embedded), the skipped files
and :data:`DISCLAIMER`. Every file is written to a temporary name and renamed
(:mod:`drlib.runtime.atomic`): an interrupted run never leaves a half-written CSV, JSON or page.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from drlib.core.grades import GRADE_NAMES
from drlib.runtime.atomic import atomic_path, atomic_write_text

if TYPE_CHECKING:  # drlib.data takes a second to import; `drlib --help` should not wait for it
    from drlib.data.records import SkippedItem

DISCLAIMER = (
    "This model was trained only on synthetic (computer-generated) fundus images, not on "
    "photographs of patients. It is for research and teaching only: it is not a medical device, "
    "it has not been validated clinically, and it must not be used for diagnosis, screening "
    "decisions or any other clinical purpose."
)
"""Stated in words in every output of a screening run (terminal, JSON, HTML)."""

REFERABLE_GRADE = 2
"""Lowest referable grade (moderate): :data:`drlib.metrics.referable.REFERABLE_GRADE` (a test
checks they agree; importing drlib.metrics here would slow ``drlib --help`` down)."""

REFERABLE_THRESHOLD = 0.5
"""A photograph is flagged referable when ``P(grade >= 2) >= 0.5``."""

SALIENCY_DISPLAY_PERCENTILE = 99.0
"""Saliency maps are drawn clipped at this percentile of their values inside the field of view."""

OVERLAY_ALPHA = 0.5
"""Opacity of a map drawn over the photograph."""

REFERABLE_RULE = (
    f"referable when P(grade >= {REFERABLE_GRADE}) = p{REFERABLE_GRADE} + ... + p4 >= "
    f"{REFERABLE_THRESHOLD} (grade {REFERABLE_GRADE}, moderate, or worse)"
)
EXPECTED_GRADE_RULE = (
    "expected grade = p1 + 2 p2 + 3 p3 + 4 p4 (pk = P(grade k)), the mean grade weighted by the "
    "model's probabilities: a value between two grades means the model hesitates between them; "
    "the predicted grade is the most probable one"
)
"""What the expected grade is, stated in the help, the terminal, the JSON and the page."""
CONFUSION_SHARE_STATED = 0.2
"""The weakest grade's commonest wrong answer is named when it takes at least this share of that
grade's validation photographs."""
CAM_NOTE = ("class activation map of the predicted grade, upsampled to the model's input, "
            "green (low) - yellow - red (high), scaled to its own range inside the field of view")
SALIENCY_NOTE = ("saliency max_c |dS_k/dI| of the predicted grade's score S_k, viridis "
                 "(dark low, yellow high), clipped at its "
                 f"{SALIENCY_DISPLAY_PERCENTILE:g}th percentile inside the field of view for "
                 "display")


# --------------------------------------------------------------------------- per image


@dataclass
class ImageResult:
    """One graded photograph.

    Attributes:
        file: the photograph, as found from the command line's paths.
        probabilities: P(grade = k) for k = 0..4 on the model's label scale.
        original_size: (width, height) of the photograph in pixels.
        input_png: the model's input image, relative to the output folder.
        overlays: map name (``"cam"``, ``"saliency"``) -> PNG, relative to the output folder.
    """

    file: str
    probabilities: tuple[float, ...]
    original_size: tuple[int, int] = (0, 0)
    input_png: str = ""
    overlays: dict[str, str] = field(default_factory=dict)

    @property
    def predicted_grade(self) -> int:
        """The most probable grade."""
        return int(np.argmax(self.probabilities))

    @property
    def grade_name(self) -> str:
        return GRADE_NAMES[self.predicted_grade]

    @property
    def expected_grade(self) -> float:
        """sum_k k p_k: between two grades when the model hesitates between them."""
        return float(np.dot(np.arange(len(self.probabilities)), self.probabilities))

    @property
    def p_referable(self) -> float:
        """P(grade >= 2) = p_2 + p_3 + p_4."""
        return float(np.sum(self.probabilities[REFERABLE_GRADE:]))

    @property
    def referable(self) -> bool:
        """P(grade >= 2) >= :data:`REFERABLE_THRESHOLD`."""
        return self.p_referable >= REFERABLE_THRESHOLD


def known_limitation(recall_per_grade: Sequence[float] | None,
                     confusion: Sequence[Sequence[int]] | None = None,
                     n_images: int | None = None) -> str:
    """The model's known limitation in words, from the validation its manifest records.

    Args:
        recall_per_grade: recall of every grade on the validation split
            (``validation.recall_per_grade``).
        confusion: the split's confusion matrix, rows the true grade (``validation.confusion``).
        n_images: photographs in the split (``validation.n_images``; default the matrix's sum).

    States every grade's recall and, for the grade with the lowest recall, the grade the model
    most often gave those photographs instead, when that is at least
    :data:`CONFUSION_SHARE_STATED` of them (for the shipped model: many healthy eyes called Mild).
    """
    if recall_per_grade is None or len(recall_per_grade) == 0:
        return ("this model's manifest records no recall per grade on a validation split "
                "(validation.recall_per_grade): how well it recognises each grade is unknown")
    if n_images is None and confusion is not None:
        n_images = int(sum(sum(row) for row in confusion))

    def name(k: int) -> str | None:
        return GRADE_NAMES[k] if k < len(GRADE_NAMES) else None

    split = f" ({n_images} photographs)" if n_images else ""
    text = (f"this model's recall per grade on its synthetic validation split{split}: "
            + ", ".join(f"{k} {name(k)} {r:.2f}" if name(k) else f"{k} {r:.2f}"
                        for k, r in enumerate(recall_per_grade)))
    weakest = int(np.argmin(recall_per_grade))
    if confusion is None or weakest >= len(confusion):
        return text
    row = list(confusion[weakest])
    wrong = [(n, j) for j, n in enumerate(row) if j != weakest]
    if not wrong or not sum(row):
        return text
    n, j = max(wrong)
    if n / sum(row) < CONFUSION_SHARE_STATED:
        return text
    eyes = ("healthy" if weakest == 0 else f"grade-{weakest} ({name(weakest)})"
            if name(weakest) else f"grade-{weakest}")
    return text + (f"; it calls many {eyes} eyes {name(j) or f'grade {j}'} ({n} of the "
                   f"{sum(row)} {eyes} validation photographs)")


def probability_columns(label_scale: str, n_classes: int = len(GRADE_NAMES)) -> list[str]:
    """CSV column names of the probabilities, naming the scale: ``p_icdr_0`` .. ``p_icdr_4``."""
    return [f"p_{label_scale}_{k}" for k in range(n_classes)]


def display_saliency(saliency_map: np.ndarray, fov: np.ndarray,
                     percentile: float = SALIENCY_DISPLAY_PERCENTILE) -> np.ndarray:
    """The map clipped at its ``percentile`` inside ``fov`` (the whole map if ``fov`` is empty),
    for drawing only."""
    values = np.asarray(saliency_map, dtype=np.float32)
    inside = values[np.asarray(fov, dtype=bool)]
    if inside.size == 0:
        inside = values.ravel()
    return np.minimum(values, np.float32(np.percentile(inside, percentile)))


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(pixels, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def cam_overlay(image: np.ndarray, cam: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """The CAM over the image (uint8 (S, S, 3)): paper colours, scaled to its own range inside the
    field of view."""
    from drlib.plotting.overlays import PAPER_CMAP, overlay_map

    return _to_uint8(overlay_map(image, cam, cmap=PAPER_CMAP, alpha=OVERLAY_ALPHA, mask=fov))


def saliency_overlay(image: np.ndarray, saliency_map: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """The saliency map over the image (uint8 (S, S, 3)), perceptual colours, clipped at its 99th
    percentile inside the field of view."""
    from drlib.plotting.overlays import PERCEPTUAL_CMAP, overlay_map

    shown = display_saliency(saliency_map, fov)
    return _to_uint8(overlay_map(image, shown, cmap=PERCEPTUAL_CMAP, alpha=OVERLAY_ALPHA,
                                 mask=fov))


def save_png(pixels: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 RGB array as PNG (folders created)."""
    from PIL import Image

    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(tmp, format="PNG")
    return path


# --------------------------------------------------------------------------- batch files


def csv_rows(results: Sequence[ImageResult], label_scale: str,
             methods: Sequence[str] = ()) -> tuple[list[str], list[dict[str, Any]]]:
    """Header and rows of ``results.csv``."""
    n_classes = len(results[0].probabilities) if results else len(GRADE_NAMES)
    p_columns = probability_columns(label_scale, n_classes)
    header = ["file", "label_scale", "predicted_grade", "predicted_grade_name", "expected_grade",
              "p_referable", "referable", *p_columns, "input_png",
              *[f"{m}_png" for m in methods]]
    rows = []
    for r in results:
        row: dict[str, Any] = {
            "file": r.file, "label_scale": label_scale, "predicted_grade": r.predicted_grade,
            "predicted_grade_name": r.grade_name, "expected_grade": f"{r.expected_grade:.4f}",
            "p_referable": f"{r.p_referable:.6f}", "referable": "yes" if r.referable else "no",
            "input_png": r.input_png,
        }
        row.update({c: f"{p:.6f}" for c, p in zip(p_columns, r.probabilities, strict=True)})
        row.update({f"{m}_png": r.overlays.get(m, "") for m in methods})
        rows.append(row)
    return header, rows


def write_csv(results: Sequence[ImageResult], path: str | Path, label_scale: str,
              methods: Sequence[str] = ()) -> Path:
    """``results.csv``: one row per graded photograph (a header only when none was graded)."""
    header, rows = csv_rows(results, label_scale, methods)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def image_entry(result: ImageResult, label_scale: str) -> dict[str, Any]:
    """One photograph in ``summary.json``."""
    return {
        "file": result.file,
        "original_size": list(result.original_size),
        "probabilities": dict(zip(probability_columns(label_scale, len(result.probabilities)),
                                  (round(float(p), 6) for p in result.probabilities),
                                  strict=True)),
        "predicted_grade": result.predicted_grade,
        "predicted_grade_name": result.grade_name,
        "expected_grade": round(result.expected_grade, 4),
        "p_referable": round(result.p_referable, 6),
        "referable": result.referable,
        "input_png": result.input_png,
        "overlays": dict(result.overlays),
    }


def build_summary(
    *,
    command: str,
    model: Mapping[str, Any],
    results: Sequence[ImageResult],
    skipped: Sequence[SkippedItem],
    ignored: Sequence[SkippedItem] = (),
    methods: Sequence[str] = (),
    n_found: int | None = None,
    not_found: Sequence[str | Path] = (),
    limitation: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of ``summary.json``.

    Args:
        command: ``"grade"`` or ``"explain"``.
        model: the model's description (name, manifest, weights_sha256, label_scale, ...).
        results: graded photographs.
        skipped: files that could not be graded, with the reason.
        ignored: files in the folders that are not images by their extension.
        methods: maps drawn (``explain``).
        n_found: photographs tried (graded + skipped), default their sum.
        not_found: paths given that do not exist (not photographs: not in ``n_found``).
        limitation: the model's known limitation (:func:`known_limitation`).
    """
    label_scale = str(model.get("label_scale", "icdr"))
    by_grade = {str(k): 0 for k in range(len(GRADE_NAMES))}
    for r in results:
        by_grade[str(r.predicted_grade)] = by_grade.get(str(r.predicted_grade), 0) + 1
    summary: dict[str, Any] = {
        "tool": "drlib screening",
        "command": command,
        "disclaimer": DISCLAIMER,
        "model": dict(model),
        "label_scale": label_scale,
        "grades": {str(k): name for k, name in enumerate(GRADE_NAMES)},
        "known_limitation": limitation,
        "referable_rule": REFERABLE_RULE,
        "expected_grade_rule": EXPECTED_GRADE_RULE,
        "maps": {m: {"cam": CAM_NOTE, "saliency": SALIENCY_NOTE}[m] for m in methods},
        "counts": {
            "found": n_found if n_found is not None else len(results) + len(skipped),
            "graded": len(results),
            "skipped": len(skipped),
            "ignored": len(ignored),
            "not_found": len(not_found),
            "referable": sum(r.referable for r in results),
            "by_predicted_grade": by_grade,
        },
        "skipped": [{"file": s.item, "reason": s.problem} for s in skipped],
        "ignored": [{"file": s.item, "reason": s.problem} for s in ignored],
        "not_found": [str(p) for p in not_found],
        "images": [image_entry(r, label_scale) for r in results],
    }
    if extra:
        summary.update(extra)
    return summary


def write_json(summary: Mapping[str, Any], path: str | Path) -> Path:
    return atomic_write_text(path, json.dumps(summary, indent=2) + "\n")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
.disclaimer { border: 2px solid #b00020; background: #fff4f4; padding: 0.8em 1em;
  font-weight: 600; }
.limitation { border: 2px solid #b06000; background: #fff8ee; padding: 0.8em 1em; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 4px 6px; text-align: center; vertical-align: middle; }
th { background: #f2f2f2; } td.file { text-align: left; word-break: break-all; max-width: 14em; }
img { width: 160px; height: 160px; display: block; margin: auto; image-rendering: auto; }
.referable { color: #b00020; font-weight: 700; } .probs { font-family: monospace;
  text-align: left; white-space: pre; }
dl.meta dt { font-weight: 600; float: left; clear: left; width: 11em; }
dl.meta dd { margin-left: 12em; }
"""


def _img_src(relative: str, out_dir: Path, embed: bool) -> str:
    if not embed:
        return html.escape(relative, quote=True)
    data = base64.b64encode((out_dir / relative).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def render_html(summary: Mapping[str, Any], results: Sequence[ImageResult], out_dir: Path,
                methods: Sequence[str] = (), embed: bool = False) -> str:
    """The one-page report: disclaimer, model, table of photographs, skipped files."""
    e = html.escape
    model = summary["model"]
    counts = summary["counts"]
    scale = str(summary["label_scale"])
    scale_name = str(model.get("label_scale_name", scale))
    parts = [
        "<!DOCTYPE html>", "<html lang=\"en\">", "<head>", "<meta charset=\"utf-8\">",
        f"<title>drlib {e(summary['command'])}: {counts['graded']} photograph(s)</title>",
        f"<style>{_STYLE}</style>", "</head>", "<body>",
        f"<h1>drlib {e(summary['command'])}: diabetic-retinopathy grades of "
        f"{counts['graded']} photograph(s)</h1>",
        f"<p class=\"disclaimer\">{e(DISCLAIMER)}</p>",
    ]
    if summary.get("known_limitation"):
        parts.append(f"<p class=\"limitation\"><strong>Known limitation:</strong> "
                     f"{e(str(summary['known_limitation']))}.</p>")
    parts += [
        "<dl class=\"meta\">",
        f"<dt>model</dt><dd>{e(str(model.get('name')))} (weights sha256 "
        f"<code>{e(str(model.get('weights_sha256')))}</code>)</dd>",
        f"<dt>label scale</dt><dd>{e(scale_name)} ({e(scale)})</dd>",
        f"<dt>preprocessing</dt><dd>{e(str(model.get('preprocess')))}, "
        f"{e(str(model.get('image_size')))} px, as in training</dd>",
        f"<dt>referable</dt><dd>{e(REFERABLE_RULE)}</dd>",
        f"<dt>expected grade</dt><dd>{e(EXPECTED_GRADE_RULE)}</dd>",
    ]
    for m in methods:
        parts.append(f"<dt>{e(m)} overlay</dt><dd>{e(summary['maps'][m])}</dd>")
    parts += [
        f"<dt>photographs</dt><dd>{counts['found']} tried: {counts['graded']} graded "
        f"({counts['referable']} referable), {counts['skipped']} skipped"
        + (f"; {counts['ignored']} other file(s) ignored" if counts["ignored"] else "")
        + (f"; {counts['not_found']} path(s) not found" if counts.get("not_found") else "")
        + "</dd>", "</dl>",
        "<h2>Grades</h2>",
    ]
    if results:
        head = ["#", "model input", "file", "predicted grade", "expected grade",
                "P(grade &ge; 2)", "referable", f"probabilities ({e(scale)})",
                *[f"{e(m)} overlay" for m in methods]]
        parts.append("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head)
                     + "</tr></thead><tbody>")
        for i, r in enumerate(results):
            probs = "\n".join(f"{k} {GRADE_NAMES[k]:<13} {p:.3f}" if k < len(GRADE_NAMES)
                              else f"{k} {p:.3f}" for k, p in enumerate(r.probabilities))
            flag = ("<span class=\"referable\">yes</span>" if r.referable else "no")
            cells = [
                str(i + 1),
                f"<img src=\"{_img_src(r.input_png, out_dir, embed)}\" "
                f"alt=\"model input of {e(r.file, quote=True)}\">",
                f"{e(r.file)}<br><small>{r.original_size[0]} &times; {r.original_size[1]} "
                "px</small>",
                f"{r.predicted_grade} {e(r.grade_name)}",
                f"{r.expected_grade:.2f}",
                f"{r.p_referable:.3f}",
                flag,
                f"<div class=\"probs\">{e(probs)}</div>",
            ]
            for m in methods:
                png = r.overlays.get(m, "")
                cells.append(f"<img src=\"{_img_src(png, out_dir, embed)}\" "
                             f"alt=\"{e(m)} overlay of {e(r.file, quote=True)}\">" if png else "")
            cls = ["", "", " class=\"file\""] + [""] * (len(cells) - 3)
            parts.append("<tr>" + "".join(f"<td{c}>{v}</td>" for c, v in zip(cls, cells,
                                                                               strict=True))
                         + "</tr>")
        parts.append("</tbody></table>")
    else:
        parts.append("<p><strong>No photograph could be graded.</strong></p>")
    parts.append("<h2>Skipped files</h2>")
    if summary["skipped"]:
        parts.append("<table><thead><tr><th>file</th><th>reason</th></tr></thead><tbody>")
        parts += [f"<tr><td class=\"file\">{e(s['file'])}</td><td>{e(s['reason'])}</td></tr>"
                  for s in summary["skipped"]]
        parts.append("</tbody></table>")
    else:
        parts.append("<p>None: every photograph found was graded.</p>")
    if summary.get("not_found"):
        parts.append("<h2>Paths not found</h2><ul>")
        parts += [f"<li>not found: {e(str(p))}</li>" for p in summary["not_found"]]
        parts.append("</ul>")
    if summary.get("ignored"):
        parts.append("<h2>Other files (not images by their extension, not graded)</h2><ul>")
        parts += [f"<li>{e(s['file'])}</li>" for s in summary["ignored"]]
        parts.append("</ul>")
    parts += [f"<p class=\"disclaimer\">{e(DISCLAIMER)}</p>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def write_html(summary: Mapping[str, Any], results: Sequence[ImageResult], path: str | Path,
               methods: Sequence[str] = (), embed: bool = False) -> Path:
    """``report.html`` (PNGs linked relative to its folder, or embedded as base64)."""
    path = Path(path)
    return atomic_write_text(path, render_html(summary, results, path.parent, methods, embed))
