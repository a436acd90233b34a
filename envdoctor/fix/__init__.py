"""The fix pipeline of ``envdoctor pin``: plan the smallest set of moves (``planner``), write it as a file pip
accepts (``pinfile``), confirm it with pip's resolver (``pin``, the public ``envdoctor.pin``), install it with
a way back (``apply``), and read the user's pip configuration (``pipconfig``)."""
