"""Screening photographs with the shipped grader: the ``drlib grade`` and ``drlib explain``
commands.

A clinician-researcher points the course's grader at a folder of fundus photographs:

* :mod:`drlib.screening.inputs` finds the photographs (files or folders, recursively) and prepares
  each one exactly as the model's training did (the manifest's preprocessing and input size); a
  file that cannot be used (unreadable, truncated, not an image, no field of view) is set aside
  with the reason, and the rest go on;
* :mod:`drlib.screening.engine` reads the model's manifest (checking the weights' SHA-256), loads
  the grader and runs it on batches: probabilities on the manifest's label scale, and for
  ``explain`` the class activation map and saliency map of the predicted grade;
* :mod:`drlib.screening.report` turns the numbers into per-image results (predicted and expected
  grade, the referable flag), the overlay PNGs, and the batch's ``results.csv``,
  ``summary.json`` and one-page ``report.html``;
* :mod:`drlib.screening.cli` is the command line (``python -m drlib`` or ``drlib``).

The grader was trained on synthetic fundus images only: every output says, in words, that it is
for research and teaching and is not a medical device (:data:`~drlib.screening.report.DISCLAIMER`).
This package is the top layer of drlib (``import-linter``); nothing in drlib imports it.
"""

from drlib.screening.report import DISCLAIMER, REFERABLE_THRESHOLD

__all__ = ["DISCLAIMER", "REFERABLE_THRESHOLD"]
