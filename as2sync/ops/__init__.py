"""What the operator's commands do besides running the daemon. They reach a gateway only
through the backend :mod:`as2sync.backends.registry` builds (``check --online`` asks it
directly, from :mod:`as2sync.cli.commands`).

* :mod:`~as2sync.ops.status`: ``status`` and ``messages``, read from the ledger and heartbeat;
* :mod:`~as2sync.ops.operate`: ``send`` and ``retry``, safe while the daemon runs;
* :mod:`~as2sync.ops.demo`: ``demo``, the emulator and the daemon on demo folders.
"""
