"""``drlib cache SOURCE OUT --size S``: turn a data set folder into a training cache.

The command around :func:`drlib.data.cache.build_cache`: a progress bar over the photographs,
then a summary (photographs cached and skipped with the reasons, shards written and reused,
time and photographs per second). Rerunning the same command after an interruption resumes the
build: verified shards are kept, the rest is redone.

Exit status: 0 when at least one photograph was cached, 1 when none was (the reasons are
printed and in the manifest), 2 for a usage error, a data set folder that cannot be read, or a
cache folder that cannot be written or holds a cache with other settings.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any

from drlib.screening.arguments import positive_int

EXIT_OK = 0
EXIT_NOTHING_CACHED = 1
EXIT_USAGE = 2
MAX_LISTED = 20
"""Skipped photographs printed in the summary; the manifest lists every one."""




def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``cache`` subcommand to ``drlib``'s subparsers."""
    from drlib.data.loaders import KINDS
    from drlib.data.preprocess import PREPROCESSORS

    parser = commands.add_parser(
        "cache", help="preprocess a data set folder once into a memory-mapped training cache",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Decode and preprocess every photograph of a data set folder (EyePACS, APTOS, IDRiD, "
            "a CSV beside photographs, or a synthetic split) once, on every core, into shards "
            "of uint8 pixels that training and prediction read memory-mapped "
            "(drlib.data.cache). Resumable: rerun the same command after an interruption.", 96),
        epilog="\n\n".join(textwrap.fill(p, 96) for p in (
            "outputs (in OUT): manifest.json (settings, sha256 of every shard, skipped files "
            "with reasons), shards/NNNNN.npy (uint8 pixels) and shards/NNNNN.json (sha256 of "
            "every source photograph, its grade and row).",
            "exit status: 0 at least one photograph cached; 1 none cached; 2 usage error, data "
            "set folder unreadable, OUT not writable or holding a cache with other settings.")))
    parser.add_argument("source", metavar="SOURCE", help="the data set folder")
    parser.add_argument("out", metavar="OUT", help="the cache folder (created)")
    parser.add_argument("--size", type=positive_int, required=True, metavar="S",
                        help="side of the square cached images, in pixels")
    parser.add_argument("--preprocess", choices=sorted(PREPROCESSORS), default="plain",
                        help="plain: eye centred and resized; graham: plus Graham's local "
                             "average subtraction (default: plain)")
    parser.add_argument("--workers", type=positive_int, default=None, metavar="N",
                        help="worker processes (default: every core)")
    parser.add_argument("--kind", choices=KINDS, default=None,
                        help="data set layout (default: detected)")
    parser.add_argument("--shard-images", type=positive_int, default=None, metavar="N",
                        help="photographs per shard (default: the existing cache's; for a new "
                             "one about 64 shards of at least 16 photographs and at most "
                             "64 MiB of pixels)")
    parser.add_argument("--full-decode", action="store_true",
                        help="decode every JPEG at full size (default: at reduced size, still "
                             "at least twice the cache size)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_cache(args: argparse.Namespace) -> int:
    """Carry out a parsed ``cache`` command; returns the exit status."""
    from tqdm import tqdm

    from drlib.data.cache import build_cache
    from drlib.data.records import DatasetError

    bar = tqdm(total=0, desc="drlib cache", unit="photo", disable=args.quiet, file=sys.stderr,
               dynamic_ncols=True)
    reused = {"shards": 0}

    def progress(done: int, total: int, entry: dict[str, Any]) -> None:
        bar.total = total
        reused["shards"] += bool(entry["reused"])
        bar.set_postfix(reused=reused["shards"], refresh=False)
        bar.update(done - bar.n)

    try:
        summary = build_cache(args.source, args.out, args.size, args.preprocess,
                              workers=args.workers, kind=args.kind,
                              shard_images=args.shard_images,
                              reduced_decode=not args.full_decode, progress=progress)
    except (DatasetError, ValueError) as err:
        bar.close()
        print(f"drlib: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    bar.close()
    print(f"{args.size} px, {args.preprocess} preprocessing")
    print("\n".join(summary.lines(MAX_LISTED)))
    if summary.cached == 0:
        print("drlib: error: no photograph could be cached (reasons above)", file=sys.stderr)
        return EXIT_NOTHING_CACHED
    return EXIT_OK
