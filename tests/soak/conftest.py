"""The soak run is a long-running program, not a test module: pytest collects nothing here."""

collect_ignore_glob = ["*.py"]
