"""The test kit: one place for what the tests share (trustme-style).

- :mod:`kit.certs`: certificates minted at test time (``NOW``, ``mint``, ``make_pki``,
  ``make_ca``/``issue``, ``OutsideCA``, ``pem``).
- :mod:`kit.der`: certificates cryptography will not build (SHA-1, raw extensions).
- :mod:`kit.cli`: the CLI run in process (``Cli``, ``Result``, ``ok``, ``error_with_hint``)
  and deployment-file text (``deployment``, ``standalone``, ``ha_pair``).
- :mod:`kit.tools`: external programs (``require_tool``, ``openssl``, ``openssl_s_server``).
- :mod:`kit.lab`: lab deployments and the helpers that drive one (in process and CLI).
- :mod:`kit.storecheck`: what a store must hold after any run (``check_store``).

The fixtures built on them live in ``tests/conftest.py`` (``cli``, ``home``,
``keyfile_store``, ``outside``, ``fast_scrypt``, ``wall_clock`` and the autouse clean
environment on the fixed clock); a folder's own conftest holds only what is local to it.
"""
