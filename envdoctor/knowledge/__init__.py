"""What envdoctor knows before it looks at an environment: the curated matrix (``matrix``, matrix/*.toml), the
hardware and precision requirements (``hardware``), the facts harvested from real wheels (``wheelfacts``,
matrix/facts/), PyTorch's build families (``torchbuild``), the training stack's names (``stack``), the catalog
of finding ids (``catalog``), and what other releases import, read from their wheels on demand (``importers``)."""
