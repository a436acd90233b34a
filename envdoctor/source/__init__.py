"""The installed code of the target, read without importing it: the per-distribution index of modules and
imports (``index``), the bounded reader of installed files (``installed``), and the two passes over Python
source, by syntax tree (``syntax``) and by text (``text``)."""
