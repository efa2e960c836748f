"""One contract suite that every backend must pass (vdirsyncer's ``StorageTests`` pattern).

:class:`tests.contract.suite.BackendContract` holds the tests; each backend's module
(``test_<backend>.py``) subclasses it and provides a ``harness`` fixture: the backend under
test plus a :class:`tests.contract.suite.Harness` that seeds received messages, shows what the
server got, and injects faults on the server's side. Downloads go into
:class:`tests.contract.sink.DirSink`, a small real sink writing into ``tmp_path``.
"""
