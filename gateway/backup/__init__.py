"""Passphrase-encrypted backups of a node's state, and their restore.

:mod:`.archive` is the sans-I/O core (header, argon2id key, XChaCha20-Poly1305,
checksum); :mod:`.container` the plaintext file list; :mod:`.create` makes an
archive from a (possibly running) node; :mod:`.restore` checks everything in a
temporary folder and only then moves it into place. The format is described in
``docs/BACKUP.md``.
"""
