"""``python -m drlib grade|explain|cache ...``: the command line (:mod:`drlib.screening.cli`)."""

from drlib.screening.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
