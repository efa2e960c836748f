"""The MFT Gateway REST backend (issue 13): ``names`` (the 2023 renaming: what is sent, what
is read), ``parsing`` (response bodies and headers -> plain data), ``pagination`` (walking
ID-only lists that shrink), ``session`` (login, early renewal by refresh token),
``errors_map`` (statuses -> :mod:`as2sync.errors`) and ``client`` (the HTTP calls)."""
