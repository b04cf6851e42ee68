"""The command line: ``drlib grade``, ``drlib explain``, ``drlib cache`` (or ``python -m drlib``).

``grade`` writes, for every photograph found, the grade probabilities on the model's label scale,
the predicted and expected grade and the referable flag; ``explain`` adds the class activation map
and saliency overlays. Both write ``results.csv``, ``summary.json`` and ``report.html`` into the
output folder (default ``screening_output/``), with the model's input for every photograph under
``images/``.

A photograph that cannot be used is skipped with the reason and the rest are graded; a path that
does not exist is reported as ``not found: PATH`` and is not counted as a photograph. Every output
states the model's known limitation, computed from its manifest's validation record
(:func:`drlib.screening.report.known_limitation`). Exit status:
0 when at least one photograph was graded, 1 when none was (the summary says why), 2 for a usage
error or an output folder that cannot be written or whose disk is too full (both checked before
the model is loaded: :func:`output_bytes_needed`), 3 when the model cannot be used (manifest or
weights missing, corrupt or not matching; the message names the file).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drlib.screening import cache_command
from drlib.screening.arguments import positive_int
from drlib.screening.engine import (
    DEFAULT_MODEL,
    METHODS,
    ModelError,
    missing_model_help,
    model_settings,
    resolve_manifest,
)
from drlib.screening.report import (
    DISCLAIMER,
    EXPECTED_GRADE_RULE,
    REFERABLE_RULE,
    known_limitation,
)

DEFAULT_OUT = "screening_output"
DEFAULT_BATCH_SIZE = 8

EXIT_OK = 0
EXIT_NOTHING_GRADED = 1
EXIT_USAGE = 2
EXIT_MODEL = 3

_DESCRIPTION = """\
Grade fundus photographs with the course's DenseNet121 grader and, with `explain`, draw what it
looks at. PATH arguments are image files or folders (searched recursively for .jpg, .jpeg, .png,
.tif, .tiff and .bmp). Every photograph is preprocessed exactly as the model's training data were
(the manifest's preprocessing and input size)."""

_EPILOG = "\n\n".join(textwrap.fill(paragraph, 96) for paragraph in (
    "outputs (in --out): results.csv (one row per photograph), summary.json (model, weights "
    "sha256, label scale, counts, skipped files with reasons), report.html (one page: inputs, "
    "grades, overlays, skipped files), images/ (the model's input, and for `explain` the "
    f"overlays, as PNG). A photograph is flagged {REFERABLE_RULE}. The {EXPECTED_GRADE_RULE}.",
    "Every output (terminal, summary.json, report.html) states the model's known limitation, "
    "computed from its manifest: its recall per grade on its synthetic validation split, and "
    "the grade it most often gives instead of the grade it recognises worst.",
    "exit status: 0 at least one photograph graded; 1 none graded; 2 usage error, output "
    "folder not writable or its disk too full (checked before grading); 3 model manifest or "
    "weights missing, corrupt or not matching.",
    DISCLAIMER,
))




def _methods(text: str) -> list[str]:
    chosen: list[str] = []
    for part in text.split(","):
        name = part.strip().lower()
        if not name:
            continue
        if name not in METHODS:
            raise argparse.ArgumentTypeError(
                f"unknown method {name!r}; choose from {', '.join(METHODS)}")
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise argparse.ArgumentTypeError(f"no method given; choose from {', '.join(METHODS)}")
    return chosen


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``drlib`` (subcommands ``grade`` and ``explain``)."""
    parser = argparse.ArgumentParser(
        prog="drlib", description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="{grade,explain,cache}",
                                     required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("paths", nargs="+", metavar="PATH",
                        help="photograph files or folders (searched recursively)")
    common.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder, created if needed (default: {DEFAULT_OUT}/)")
    common.add_argument("--model", default=None, metavar="MANIFEST",
                        help="a model manifest (<name>.manifest.json) or a model name in the "
                             "models folder, with its subfolder if any (e.g. "
                             f"gpu/densenet121_gpu; default: {DEFAULT_MODEL})")
    common.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE,
                        metavar="N", help="photographs per forward/backward pass "
                                          f"(default: {DEFAULT_BATCH_SIZE})")
    common.add_argument("--embed-images", action="store_true",
                        help="put the PNGs inside report.html (base64) instead of linking them")
    common.add_argument("--quiet", action="store_true",
                        help="no progress bar and no line per photograph")
    commands.add_parser(
        "grade", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="grade photographs: probabilities, predicted grade, referable flag",
        description=textwrap.fill(
            "Grade photographs: probabilities on the model's label scale, the predicted and "
            "expected grade, the referable flag.", 96), epilog=_EPILOG)
    explain = commands.add_parser(
        "explain", parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        help="grade photographs and draw CAM and saliency overlays",
        description=textwrap.fill(
            "Grade photographs and draw, for the predicted grade, the class activation map and "
            "the saliency map over the model's input.", 96), epilog=_EPILOG)
    explain.add_argument("--method", type=_methods, default=list(METHODS), metavar="M[,M]",
                         help=f"maps to draw, comma-separated (default: {','.join(METHODS)})")
    cache_command.add_parser(commands)
    return parser


def _safe_stem(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)[:60] or "image"


class _Run:
    """One screening run: prepares photographs, grades them in full batches, writes per-image
    files as each batch completes."""

    def __init__(self, args: argparse.Namespace, settings: Any, out_dir: Path,
                 methods: list[str], say, n_images: int) -> None:
        self.args = args
        # every batch has this many rows (the last one padded): one compiled shape, and no
        # padding to --batch-size when fewer photographs than that were given
        self.batch_size = max(1, min(args.batch_size, n_images))
        self.settings = settings
        self.out_dir = out_dir
        self.methods = methods
        self.say = say
        self.model = None
        self.pending: list[tuple[int, Any]] = []
        self.results: list[Any] = []
        self.legend_said = False

    def add(self, index: int, prepared: Any, bar: Any) -> None:
        self.pending.append((index, prepared))
        if len(self.pending) == self.batch_size:
            self.flush(bar)

    def flush(self, bar: Any) -> None:
        import numpy as np

        from drlib.screening.engine import load_model, run_batch
        from drlib.screening.report import (
            ImageResult,
            cam_overlay,
            saliency_overlay,
            save_png,
        )

        if not self.pending:
            return
        if self.model is None:
            if not self.args.quiet:
                from tqdm import tqdm

                tqdm.write(f"loading model {self.settings.name} ({self.settings.manifest_path}, "
                           "weights sha256 verified) ...", file=sys.stderr)
            self.model = load_model(self.settings)
        batch = self.pending
        self.pending = []
        images = np.stack([p.image for _, p in batch])
        out = run_batch(self.model, images, self.batch_size, self.methods)
        for row, (index, prepared) in enumerate(batch):
            stem = f"images/{index:04d}_{_safe_stem(prepared.path)}"
            save_png(prepared.image, self.out_dir / f"{stem}_input.png")
            overlays = {}
            if out.cam is not None:
                overlays["cam"] = f"{stem}_cam.png"
                save_png(cam_overlay(prepared.image, out.cam[row], prepared.fov),
                         self.out_dir / overlays["cam"])
            if out.saliency is not None:
                overlays["saliency"] = f"{stem}_saliency.png"
                save_png(saliency_overlay(prepared.image, out.saliency[row], prepared.fov),
                         self.out_dir / overlays["saliency"])
            height, width = prepared.original_shape
            result = ImageResult(
                file=str(prepared.path),
                probabilities=tuple(float(p) for p in out.probabilities[row]),
                original_size=(width, height), input_png=f"{stem}_input.png", overlays=overlays)
            self.results.append(result)
            if not self.legend_said:
                self.say(f"({EXPECTED_GRADE_RULE})")
                self.legend_said = True
            self.say(f"{result.file}: grade {result.predicted_grade} ({result.grade_name}), "
                     f"expected {result.expected_grade:.2f}, P(grade >= 2) "
                     f"{result.p_referable:.3f}: "
                     + ("REFERABLE" if result.referable else "not referable"))
        bar.update(len(batch))


def output_bytes_needed(n_images: int, image_size: int, n_methods: int, embed: bool) -> int:
    """Disk space a run asks for before it starts (an upper bound): per photograph, its input
    and overlay PNGs at no better than raw size (S x S x 3 bytes, plus 1 KiB each), the same
    again as base64 (4/3) when embedded in the page, and 4 KiB of CSV, JSON and HTML; plus 1 MiB.
    """
    png = int(image_size) ** 2 * 3 + 1024
    per_image = png * (1 + n_methods) * (1 + (4 / 3 if embed else 0)) + 4096
    return int(n_images * per_image) + (1 << 20)


def _model_description(settings: Any) -> dict[str, Any]:
    from drlib.runtime.backend import name as backend_name

    return {
        "name": settings.name,
        "manifest": str(settings.manifest_path),
        "weights_file": settings.weights_file,
        "weights_sha256": settings.weights_sha256,
        "image_size": settings.image_size,
        "preprocess": settings.preprocess,
        "label_scale": settings.label_scale,
        "label_scale_name": settings.scale_name,
        "n_classes": settings.n_classes,
        "trained_with_backend": settings.backend,
        "backend": backend_name(),
        "validation": {  # as the manifest records it: the source of the known limitation
            "n_images": settings.validation_images,
            "recall_per_grade": (list(settings.recall_per_grade)
                                 if settings.recall_per_grade is not None else None),
            "confusion": ([list(row) for row in settings.validation_confusion]
                          if settings.validation_confusion is not None else None),
        },
    }


def run(args: argparse.Namespace) -> int:
    """Carry out a parsed ``grade`` or ``explain`` command; returns the exit status."""
    from tqdm import tqdm

    from drlib.data.image_io import FundusImageError
    from drlib.data.records import SkippedItem
    from drlib.runtime.atomic import remove_debris
    from drlib.runtime.storage import check_output_folder
    from drlib.screening.inputs import collect_images, prepare_image
    from drlib.screening.report import build_summary, write_csv, write_html, write_json

    methods = list(args.method) if args.command == "explain" else []
    out_dir = Path(args.out)
    manifest_path = resolve_manifest(args.model)
    try:
        settings = model_settings(manifest_path)
    except ModelError as err:
        print(f"drlib: error: the model cannot be used: {err}", file=sys.stderr)
        hint = missing_model_help(manifest_path)
        if hint:
            print(f"drlib: {hint}", file=sys.stderr)
        return EXIT_MODEL
    files = {"csv": out_dir / "results.csv", "json": out_dir / "summary.json",
             "html": out_dir / "report.html"}
    # the run's own outputs are not inputs, nor ignored files, when --out lies in a PATH folder
    inputs = collect_images(args.paths, exclude=[out_dir / "images", *files.values()])
    try:  # before the model is loaded and anything graded: can the results be written?
        check_output_folder(out_dir, output_bytes_needed(
            len(inputs.images), settings.image_size, len(methods), args.embed_images))
        (out_dir / "images").mkdir(exist_ok=True)
    except OSError as err:
        print(f"drlib: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    remove_debris(out_dir)  # half-written files of an earlier run that was killed
    skipped: list[SkippedItem] = list(inputs.skipped)
    if not args.quiet:
        missing = (f", {len(inputs.not_found)} path(s) not found" if inputs.not_found
                   else "")
        print(f"drlib {args.command}: {len(inputs.images)} photograph(s){missing}; "
              f"model {settings.name}, "
              f"grades on the {settings.scale_name}; output in {out_dir}/", file=sys.stderr,
              flush=True)
    show_bar = not args.quiet and (inputs.from_folder or len(inputs.images) > 1)
    bar = tqdm(total=len(inputs.images), desc=f"drlib {args.command}", unit="photo",
               disable=not show_bar, file=sys.stderr, dynamic_ncols=True)

    def say(line: str) -> None:
        if not args.quiet:
            tqdm.write(line, file=sys.stdout)

    screening = _Run(args, settings, out_dir, methods, say, len(inputs.images))
    try:
        for index, path in enumerate(inputs.images):
            try:
                prepared = prepare_image(path, settings.image_size, settings.preprocess)
            except FundusImageError as err:
                skipped.append(SkippedItem(str(path), err.problem))
            except Exception as err:  # one bad file must not stop the batch
                skipped.append(SkippedItem(str(path), f"cannot read ({type(err).__name__}: "
                                                      f"{err})"))
            else:
                screening.add(index, prepared, bar)
                continue
            say(f"{skipped[-1].item}: SKIPPED: {skipped[-1].problem}")
            bar.update(1)
        screening.flush(bar)
    except ModelError as err:
        bar.close()
        print(f"drlib: error: the model cannot be used: {err}", file=sys.stderr)
        return EXIT_MODEL
    bar.close()

    results = screening.results
    model = _model_description(settings)
    extra = {
        "drlib_version": _drlib_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "inputs": [str(p) for p in args.paths],
        "batch_size": screening.batch_size,
        "preprocessing": f"{settings.preprocess} (as in training), {settings.image_size} px; "
                         "images/*_input.png is what the model saw",
    }
    if methods:
        extra["explained_class"] = "the predicted grade (highest score) of each photograph"
    limitation = known_limitation(settings.recall_per_grade, settings.validation_confusion,
                                  settings.validation_images)
    summary = build_summary(command=args.command, model=model, results=results, skipped=skipped,
                            ignored=inputs.ignored, methods=methods,
                            n_found=len(inputs.images) + len(inputs.skipped),
                            not_found=inputs.not_found, limitation=limitation, extra=extra)
    try:
        write_csv(results, files["csv"], settings.label_scale, methods)
        write_json(summary, files["json"])
        write_html(summary, results, files["html"], methods, embed=args.embed_images)
    except OSError as err:
        print(f"drlib: error: cannot write the outputs in {out_dir}: {err}", file=sys.stderr)
        return EXIT_USAGE

    counts = summary["counts"]
    print(f"graded {counts['graded']} of {counts['found']} photograph(s) "
          f"({counts['referable']} referable: {REFERABLE_RULE}); skipped {counts['skipped']}"
          + (f"; ignored {counts['ignored']} non-image file(s)" if counts["ignored"] else "")
          + (f"; {counts['not_found']} path(s) not found" if counts["not_found"] else ""))
    for path in inputs.not_found:
        print(f"  not found: {path}")
    for item in skipped:
        print(f"  skipped {item.item}: {item.problem}")
    print(f"wrote {files['csv']}, {files['json']}, {files['html']}")
    print(f"NOTE: {DISCLAIMER}")
    print(f"KNOWN LIMITATION: {limitation}.")
    if not results:
        found = "no photograph was found" if not counts["found"] else \
            f"all {counts['found']} photograph(s) were skipped"
        if counts["not_found"]:
            found += f", {counts['not_found']} path(s) not found"
        print(f"drlib: error: no photograph could be graded: {found} (reasons above and in "
              f"{files['json']})", file=sys.stderr)
        return EXIT_NOTHING_GRADED
    return EXIT_OK


def _drlib_version() -> str:
    from drlib import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``drlib`` and ``python -m drlib``; returns the exit status."""
    # TensorFlow's C++ start-up chatter (oneDNN, CPU features) is not for a screening user.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "Agg")  # overlays are written as files, never shown
    args = build_parser().parse_args(argv)
    if args.command == "cache":
        return cache_command.run_cache(args)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
