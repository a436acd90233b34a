"""Static checks: an Inventory (and what the run shares, envdoctor.diagnose.Context) in, Findings out. None of
them starts a process. ``metadata`` (a superset of pip check, with ``tags``), ``rules`` (the matrix engine;
the files it reads are ``signals/``), ``symbols/`` (cross-package imports against the installed sources)."""
