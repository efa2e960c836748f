"""A local emulator of the AS2 Gateway REST API v1, for tests, demos and offline use.

Modules: ``settings`` (what to emulate), ``state`` (the account, thread-safe, persisted by
``store``), ``model``/``entities`` (records and their JSON), ``ids`` (realistic message IDs),
``tokens``, ``ratelimit``, ``middleware``/``endpoint`` (rate limit, auth, fault injection),
``app`` (the ``/v1`` routes), ``admin`` (``/_admin``), ``zipbatch``, ``server`` (the
``running_emulator`` harness) and ``cli`` (``as2sync emulator``).
"""
