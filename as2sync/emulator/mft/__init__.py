"""The MFT Gateway REST API front-end of the emulator (issue 13).

It serves the same emulated account as the ``/v1`` front-end (the shared parts of
:mod:`as2sync.emulator.state`: account, store, faults, journal) in MFT Gateway's words:
``settings`` (this API's switches), ``sessions`` (refresh tokens), ``boxes`` (inbox and outbox
views over the store), ``entities`` (their JSON, new field names only), ``objectstore`` (the
signed, expiring attachment URLs and the second listener that serves them), ``recording`` (the
request names and headers a client sent, for tests), ``app`` (the routes), ``admin`` (its
``/_admin`` additions) and ``server`` (``running_mft_emulator``).
"""
