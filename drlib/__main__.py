"""``python -m drlib grade|explain ...``: the screening command (:mod:`drlib.screening.cli`)."""

from drlib.screening.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
