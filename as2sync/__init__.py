"""as2sync: a folder-to-AS2 bridge for the AS2 Gateway REST API."""

__version__ = "0.1.0"
