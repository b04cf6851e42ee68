"""Figures the book compares itself with, as data: each with its source and its grading scale.

They are *published* results on real photographs (EyePACS and others), never results of this
course. A figure quoted from memory rather than re-checked against its primary source carries
``recollection=True``, and the book prints it with that caveat. Each figure also names the
grading scale of its labels (EyePACS/Kaggle labels and Gulshan et al. follow the International
Clinical DR scale, ICDR), and every table that shows one beside a synthetic result carries
:data:`CAVEAT` in the published figure's row.
"""

from __future__ import annotations

from dataclasses import dataclass

CAVEAT = "published, EyePACS, not comparable"
"""The words that travel with a published EyePACS figure wherever it sits beside a synthetic one."""


@dataclass(frozen=True)
class PublishedKappa:
    """A quadratic weighted kappa reported by someone else.

    ``kappa`` is a point value, or ``None`` when only a range ``low``-``high`` is quoted.
    ``recollection`` marks a figure that is widely quoted but was not re-checked against its
    primary source; the book prints it with that caveat.
    """

    grader: str
    data: str
    kappa: float | None
    low: float | None = None
    high: float | None = None
    source: str = ""
    recollection: bool = False
    scale: str = "ICDR"
    caveat: str = CAVEAT


PUBLISHED_KAPPAS: tuple[PublishedKappa, ...] = (
    PublishedKappa(
        "Pratt et al. 2019 (the paper), a DenseNet",
        "EyePACS (Kaggle 2015): 10,626 test images, also used to decide when to stop", 0.81,
        source="paper, results section",
        caveat=CAVEAT + " (the test set also chose the stopping point)",
    ),
    PublishedKappa(
        "Kaggle 2015 1st place (B. Graham)", "EyePACS, private leaderboard", 0.850,
        source="leaderboard", recollection=True,
    ),
    PublishedKappa(
        "Kaggle 2015 2nd place (team o_O), ensemble", "EyePACS, private leaderboard", 0.845,
        source="sveitser/kaggle_diabetic README",
    ),
    PublishedKappa(
        "Kaggle 2015 2nd place (team o_O), one family of nets", "EyePACS, private leaderboard",
        0.840, source="sveitser/kaggle_diabetic README",
    ),
    PublishedKappa(
        "single human graders vs adjudicated reference", "EyePACS-like screening images",
        None, low=0.80, high=0.84, source="Krause et al., Ophthalmology 2018",
        recollection=True, caveat="published, EyePACS-like images, not comparable",
    ),
)
"""Kappas the chapter sets its own beside, each with its data, scale and caveat."""

DE_WIT_RECALL: tuple[float, ...] = (0.95, 0.34, 0.61, 0.65, 0.71)
"""Recall per grade 0..4 of the Kaggle 2015 4th place (J. de Wit), from his published
confusion matrix (juliandewit/kaggle_retinopathy): mild DR is the hard class."""


@dataclass(frozen=True)
class PublishedOperatingPoint:
    """A referable-DR operating point reported by someone else."""

    name: str
    sensitivity: float
    specificity: float
    source: str
    recollection: bool = False


GULSHAN_OPERATING_POINTS: tuple[PublishedOperatingPoint, ...] = (
    PublishedOperatingPoint(
        "high specificity", 0.903, 0.981, "Gulshan et al., JAMA 2016, EyePACS-1"
    ),
    PublishedOperatingPoint(
        "high sensitivity", 0.975, 0.934, "Gulshan et al., JAMA 2016, EyePACS-1"
    ),
)
"""Gulshan et al.'s two operating points for referable DR on EyePACS-1. Their "referable" is
moderate or worse DR (ICDR) *and/or* referable diabetic macular oedema; the course's referable is
grade >= 2 alone (no macular oedema is modelled), so the two are not the same question."""

GULSHAN_AUC = 0.99
"""Gulshan et al.'s AUC for referable DR (moderate or worse and/or referable macular oedema) on
EyePACS-1, "about 0.99" (recollection)."""
