"""Cross-package imports checked against the installed sources: ``check`` (the check), ``resolver`` (does an
imported name exist, where does a failing import run), ``links`` (the shared vocabulary), ``alternatives``
(fixes from harvested facts), ``undeclared`` and ``providers`` (imports nothing declares)."""
