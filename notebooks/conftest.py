"""pytest collection rules for the chapter notebooks (checked by nbval, see pyproject.toml).

Notebook 02 trains the model: executing it cell by cell under nbval would take far too long on a
CPU and its outputs (losses, timings) are not meant to be pinned. It is run headless through
papermill with small parameters by a dedicated test under tests/ instead, so nbval skips it here.
"""

collect_ignore_glob = ["02_*.ipynb"]
