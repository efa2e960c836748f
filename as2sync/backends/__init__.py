"""Gateway backends: one package per API behind the seam in :mod:`as2sync.backends.base`."""
