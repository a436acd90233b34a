"""What an install would do, without doing it: pip's own resolver in dry-run mode (``dryrun``), the files of
the wheels it would bring (``materialize``), and pip requirements files read the way pip reads them
(``reqfile``). Used by what-if checks and by the fix pipeline."""
