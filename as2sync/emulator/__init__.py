"""A local emulator of the AS2 Gateway REST API v1 (and of the MFT Gateway REST API), for
tests, demos and offline use.

Modules: ``settings`` (what to emulate); the emulated account's parts, each thread-safe and
shareable by more than one API front-end: ``account`` (credentials, tokens, stations,
partners, rate limit), ``store`` (messages and their life cycle), ``faults`` (fault knobs and
their random sequence), ``journal`` (what clients did), with ``datadir`` persisting the first
two; ``state`` (the parts wired together, and the names tests call); ``model``/``entities``
(records and their JSON), ``ids`` (realistic message IDs), ``tokens``, ``ratelimit``. The
``/v1`` front-end: ``folders`` (its message folders over the store), ``middleware``/``endpoint``
(rate limit, auth, fault injection), ``app`` (the routes), ``zipbatch``; then ``admin``
(``/_admin``), ``server`` (the ``running_emulator`` harness) and ``cli`` (``as2sync emulator``).
The MFT Gateway REST front-end (``as2sync emulator --api mftgateway``) is the ``mft`` package,
on the same parts.
"""
