"""Explanation maps: what the grader looks at (class activation maps, saliency).

Empty until the explanation chapters land; it sits above :mod:`drlib.modeling` and below
:mod:`drlib.evaluation` in the layers that ``import-linter`` enforces (``pyproject.toml``).
"""
