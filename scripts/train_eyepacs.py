"""Train the course's DenseNet121 grader on a real EyePACS (Kaggle 2015) folder.

    KERAS_BACKEND=jax python scripts/train_eyepacs.py --data /data/eyepacs --devices all \
        --cache data/eyepacs_512

``--data`` holds ``trainLabels.csv`` and ``train/`` as Kaggle ships them. Every photograph is
checked before training (bad files are skipped and listed, never met in the middle of an
epoch). With ``--cache DIR`` the photographs are decoded and preprocessed once, on every core,
into a memory-mapped training cache (``drlib cache``; built, or finished after an interruption,
by this command) and training reads only the batches it needs; without it they are decoded
again every epoch by threads, which suits a few thousand photographs, not 88,702. The
photographs are split by patient into training and validation; then
:func:`drlib.training.train` runs with checkpoints and a backup in ``--run-dir``. Run the same
command again after an interruption (a kill, a reboot, a lost machine): it resumes after the
last completed epoch. ``--devices all`` trains data-parallel on every GPU: Keras' distribution
API on JAX, a ``tf.distribute.MirroredStrategy`` on TensorFlow. ``--batch-size`` is the global
batch, split over the devices.

Appendix "Real-world data and faults" of the book explains each step and what the tests check.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder with trainLabels.csv and train/")
    parser.add_argument("--run-dir", default=None,
                        help="checkpoints, backup, history (default: <runs>/eyepacs_densenet121)")
    parser.add_argument("--image-size", type=int, default=512, help="network input, px")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="global batch (a multiple of the number of devices)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=5,
                        help="epochs without a better validation loss before stopping")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--preprocess", choices=["plain", "graham"], default="graham")
    parser.add_argument("--init", default="scratch",
                        help="'scratch', 'imagenet' (needs the Keras weights file) or a path")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="threads that read and preprocess photographs")
    parser.add_argument("--cache", default=None,
                        help="training cache folder (built or finished from --data first, then "
                             "read memory-mapped); default: decode the photographs every epoch")
    parser.add_argument("--devices", choices=["one", "all"], default="one")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import keras

    from drlib.data.loaders import load_eyepacs
    from drlib.data.patients import split_by_patient
    from drlib.data.pipeline import FundusSequence
    from drlib.modeling.densenet import build_densenet
    from drlib.runtime.devices import describe_devices, use_data_parallel, use_mirrored_strategy
    from drlib.runtime.paths import runs_dir
    from drlib.training import TrainConfig, configure_precision, train

    fractions = {"train": 1 - args.val_fraction, "val": args.val_fraction}
    if args.cache:
        from drlib.data.cache import CacheSequence, build_cache, open_cache

        summary = build_cache(args.data, args.cache, args.image_size, args.preprocess,
                              workers=args.workers, kind="eyepacs")
        print(summary)  # cached, reused and skipped photographs, with the reasons
        cache = open_cache(args.cache)
        splits = split_by_patient(cache.records(), fractions, seed=args.seed)
        rows = {part: cache.index_of([r.image_id for r in members])
                for part, members in splits.items()}
    else:
        records, report = load_eyepacs(args.data, strict=False, validate_images=True)
        print(report)  # every skipped row or photograph, with the reason
        splits = split_by_patient(records, fractions, seed=args.seed)
    config = TrainConfig(
        image_size=args.image_size, batch_size=args.batch_size, epochs=args.epochs,
        patience=args.patience, seed=args.seed, verbose=2,
        output_dir=args.run_dir or str(runs_dir() / "eyepacs_densenet121"))
    configure_precision(config.mixed_precision)
    strategy = None
    if args.devices == "all":
        if keras.backend.backend() == "jax":
            use_data_parallel()
        else:
            strategy = use_mirrored_strategy()
    print(describe_devices())

    def batches(part: str, shuffle: bool) -> FundusSequence | CacheSequence:
        if args.cache:
            return CacheSequence(cache, rows[part], batch_size=args.batch_size, shuffle=shuffle,
                                 seed=args.seed, drop_remainder=shuffle, workers=args.workers)
        return FundusSequence(splits[part], batch_size=args.batch_size,
                              image_size=args.image_size, preprocess=args.preprocess,
                              shuffle=shuffle, seed=args.seed, drop_remainder=shuffle,
                              workers=args.workers)

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_densenet(args.image_size, weights=args.init)
        history = train(model, batches("train", True), batches("val", False), config)
    print(f"{history.epochs_run} epochs, best epoch {history.best_epoch}: validation kappa "
          f"{history.best('val_kappa')}; checkpoints in {config.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
