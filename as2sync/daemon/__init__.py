"""The daemon (``as2sync run``): the long-running process and what it tells the world.

* :mod:`~as2sync.daemon.service`: wiring, worker threads, signals, reload;
* :mod:`~as2sync.daemon.liveness`: each loop's deadline, and when a loop is stuck or failing;
* :mod:`~as2sync.daemon.health`: the heartbeat file and the health verdict read from it;
* :mod:`~as2sync.daemon.notify`: systemd's notify protocol (READY, WATCHDOG, STATUS);
* :mod:`~as2sync.daemon.metrics`: optional Prometheus metrics.
"""
