"""Signals: what a matrix rule reads from installed files when version numbers alone cannot show a break.
``base`` holds the shared file reader and cache; one module per family (``torch``, ``numpy_abi``,
``numpy_names``); ``elf`` reads the dynamic section of shared objects. The rule engine (envdoctor.checks.rules)
names them in its table."""
