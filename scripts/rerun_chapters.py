"""Rerun every chapter of the book in order with papermill, then (from `make rerun`) rebuild it.

    python scripts/rerun_chapters.py [--profile cpu|gpu|cpu-smoke] [--only 03 04] [--dry-run]

The chapters are the notebooks listed in ``_toc.yml``, in the book's order (chapter 02 trains
the model the later chapters load, so order matters). A chapter whose ``parameters`` cell
defines ``profile`` gets ``-p profile <profile>``; the others run with their own parameters.
Each chapter is executed into a temporary file next to it and replaces the committed notebook
only when it ran without error, so a failed run never leaves a half-executed chapter behind;
the run stops at the first failure (later chapters may depend on it) and exits non-zero.
The time per chapter is printed as a table and written to ``_build/rerun_times.json``.
Environment (backend, seeds) is the caller's: ``make rerun`` sets the course's defaults, and
``KERAS_BACKEND=jax make rerun PROFILE=gpu`` is the GPU machine's reference rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling book_toc.py
from book_toc import toc_entries  # noqa: E402

PROFILE_LINE = re.compile(r"^profile\s*=", re.MULTILINE)


def toc_notebooks(root: Path) -> list[Path]:
    """The ``notebooks/*.ipynb`` files of ``_toc.yml``, in the book's order."""
    files = toc_entries(root)
    found = []
    for name in files:
        path = root / f"{name}.ipynb"
        if name.startswith("notebooks/") and path.is_file():
            found.append(path)
    return found


def takes_profile(notebook: Path) -> bool:
    """True if the notebook's papermill ``parameters`` cell defines ``profile``."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return bool(PROFILE_LINE.search("".join(cell["source"])))
    return False


def run_chapter(notebook: Path, parameters: dict, root: Path) -> None:
    """Execute ``notebook`` with papermill and replace it with the result (only on success)."""
    import papermill

    partial = notebook.with_name(f".{notebook.stem}.rerun.ipynb")
    had_figures = image_outputs(json.loads(notebook.read_text(encoding="utf-8")))
    try:
        papermill.execute_notebook(
            str(notebook), str(partial), parameters=parameters, kernel_name="python3",
            cwd=str(notebook.parent), progress_bar=False,
        )
        executed = json.loads(partial.read_text(encoding="utf-8"))
        if had_figures and not image_outputs(executed):
            raise RuntimeError(
                f"{notebook.name} ran but drew no figure where it held {had_figures} (is "
                f"MPLBACKEND={os.environ.get('MPLBACKEND')!r} set for the kernel?); left as it was")
        drop_log_banners(executed)
        stable_injected_id(executed)
        relative = notebook.relative_to(root).as_posix()
        meta = executed["metadata"].setdefault("papermill", {})
        meta["input_path"] = meta["output_path"] = relative
        partial.write_text(json.dumps(executed, indent=1, ensure_ascii=False) + "\n",
                           encoding="utf-8")
        os.replace(partial, notebook)
    finally:
        partial.unlink(missing_ok=True)


#: Lines that TensorFlow's C++ logging writes to a kernel's stderr when it loads, whatever
#: TF_CPP_MIN_LOG_LEVEL says (absl prints them before its logging is set up). They carry a
#: clock stamp and a process id, so a committed chapter that kept them would change at every
#: rerun without anything it computes having changed.
LOG_BANNER = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    r"STDERR|I\d{4} [\d:.]+ +\d+ port\.cc:\d+\] oneDNN custom operations are on\..*)$")


def drop_log_banners(notebook: dict) -> int:
    """Remove those lines from every stderr output of ``notebook`` (an output left empty goes
    too); returns how many lines went. Everything else a cell wrote to stderr stays."""
    dropped = 0
    for cell in notebook["cells"]:
        kept_outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = output["text"] if isinstance(output["text"], str) else "".join(
                    output["text"])
                lines = text.splitlines(keepends=True)
                kept = [line for line in lines if not LOG_BANNER.match(line.rstrip("\n"))]
                dropped += len(lines) - len(kept)
                if not kept:
                    continue
                output["text"] = kept
            kept_outputs.append(output)
        if "outputs" in cell:
            cell["outputs"] = kept_outputs
    return dropped


#: The id given to papermill's ``injected-parameters`` cell. papermill makes a new random id
#: for that cell at every run, so a rerun chapter would differ from the committed one in that
#: line even when nothing it computes changed.
INJECTED_ID = "injected-parameters"


def stable_injected_id(notebook: dict) -> bool:
    """Give papermill's ``injected-parameters`` cell of ``notebook`` the id ``INJECTED_ID``
    (unless another cell already holds that id); returns whether a cell was renamed."""
    cells = notebook["cells"]
    injected = [cell for cell in cells
                if "injected-parameters" in cell.get("metadata", {}).get("tags", [])]
    if len(injected) != 1 or any(cell.get("id") == INJECTED_ID for cell in cells
                                 if cell is not injected[0]):
        return False
    renamed = injected[0].get("id") != INJECTED_ID
    injected[0]["id"] = INJECTED_ID
    return renamed


def image_outputs(notebook: dict) -> int:
    """How many image outputs the notebook's cells hold."""
    return sum(1 for cell in notebook["cells"] for output in cell.get("outputs", [])
               if any(mime.startswith("image/") for mime in output.get("data", {})))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu",
                        help="profile for chapters that take one (chapter 02): cpu, gpu, ...")
    parser.add_argument("--only", nargs="*", default=None,
                        help="chapter number prefixes to run (default: all, in order)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the book's root (holds _toc.yml)")
    parser.add_argument("--times", type=Path, default=None,
                        help="where to write the times (default <root>/_build/rerun_times.json)")
    parser.add_argument("--dry-run", action="store_true", help="list what would run, run nothing")
    args = parser.parse_args(argv)
    # The Makefile exports MPLBACKEND=Agg so that tests draw headless; a chapter's kernel must
    # draw inline instead, or its figures are never stored as outputs (the book would lose them).
    os.environ.pop("MPLBACKEND", None)
    root = args.root.resolve()
    chapters = toc_notebooks(root)
    if args.only:
        chapters = [c for c in chapters if any(c.name.startswith(p) for p in args.only)]
    if not chapters:
        print(f"no chapters to run under {root}", file=sys.stderr)
        return 2
    rows = []
    failed = None
    for notebook in chapters:
        parameters = {"profile": args.profile} if takes_profile(notebook) else {}
        shown = " ".join(f"-p {k} {v}" for k, v in parameters.items()) or "(its own)"
        if args.dry_run:
            print(f"{notebook.relative_to(root)}  parameters: {shown}")
            continue
        print(f"running {notebook.relative_to(root)} {shown} ...", flush=True)
        start = time.perf_counter()
        try:
            run_chapter(notebook, parameters, root)
            status = "ok"
        except Exception as err:  # papermill raises PapermillExecutionError with the cell
            status = f"failed: {type(err).__name__}: {str(err).strip().splitlines()[-1][:200]}"
            failed = notebook
        rows.append({"chapter": notebook.relative_to(root).as_posix(), "parameters": parameters,
                     "seconds": round(time.perf_counter() - start, 1), "status": status})
        if failed is not None:
            break
    if args.dry_run:
        return 0
    width = max(len(r["chapter"]) for r in rows)
    print(f"\n{'chapter':{width}s}  {'seconds':>8s}  status")
    for r in rows:
        print(f"{r['chapter']:{width}s}  {r['seconds']:8.1f}  {r['status']}")
    print(f"{'total':{width}s}  {sum(r['seconds'] for r in rows):8.1f}")
    times = args.times or root / "_build" / "rerun_times.json"
    times.parent.mkdir(parents=True, exist_ok=True)
    times.write_text(json.dumps({"profile": args.profile, "chapters": rows}, indent=1) + "\n",
                     encoding="utf-8")
    if failed is not None:
        print(f"stopped: {failed.relative_to(root)} failed; it was left as it was",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
