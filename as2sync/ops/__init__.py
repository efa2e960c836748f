"""What the operator's commands do besides running the daemon.

* :mod:`~as2sync.ops.status`: ``status`` and ``messages``, read from the ledger and heartbeat;
* :mod:`~as2sync.ops.operate`: ``send`` and ``retry``, safe while the daemon runs;
* :mod:`~as2sync.ops.online_check`: ``check --online``, is each station/partner pair usable;
* :mod:`~as2sync.ops.demo`: ``demo``, the emulator and the daemon on demo folders.
"""
