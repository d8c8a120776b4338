"""Saving accepted photos so that a file outlives its request only if the database rows that name it commit.

Use `saving_photos()` as the OUTER layer, around the transaction that records the names::

    with saving_photos() as saver, transaction.atomic():
        name = saver.save(accepted, prefix="cases/2026/11/")
        CasePhoto.objects.create(case=case, file=name)

Exact semantics, for each file saved in the block:

* saved while a transaction is open (the usual case, as above): the file follows that transaction. It is kept
  when the transaction commits (a `transaction.on_commit` callback marks it) and deleted when it, or the
  savepoint the file was saved in, rolls back, whether by an exception or silently (`set_rollback`, an inner
  atomic that swallowed an error). A rollback is seen when Django discards the on-commit callback, at the latest
  when the block exits; so the file is deleted even when the block itself does not raise.
* saved outside any transaction (autocommit): kept if the block exits normally, deleted if the block raises.
* if the block raises, every file that no commit has confirmed is deleted before the exception goes on. A file
  whose transaction already committed is kept: deleting it would leave a committed row naming nothing.

Nested inside someone else's `transaction.atomic()` (ATOMIC_REQUESTS, a caller's service, a test's `db`
fixture), the block cannot know the outcome when it exits: the files wait for the outer transaction and are
deleted when Django discards their callbacks on its rollback (CPython frees the callback at once; see
`_Pending`). If the process dies in between, the file stays as an orphan, never as a row without its file.

Names are `<prefix><sha256 of the content>.<ext>`; when that name is taken (the same photo sent twice) the
storage adds a suffix, so each save owns its own file and a rollback never deletes a file that another
record names.
"""

from __future__ import annotations

import logging
import posixpath
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from photos.services import AcceptedPhoto

logger = logging.getLogger(__name__)


@dataclass
class _Pending:
    """Files whose fate is one transaction's (or, for the saver's unbound list, the block's), and that fate.

    The on-commit callback holds this object; a `weakref.finalize` on the callback deletes the files if the
    callback is thrown away without being called, which is what Django does to callbacks on rollback.
    """

    storage: Storage
    names: list[str] = field(default_factory=list)
    committed: bool = False
    discarded: bool = False

    def discard(self) -> None:
        if self.committed or self.discarded:
            return
        self.discarded = True
        for name in self.names:
            try:
                self.storage.delete(name)
            except OSError:
                # Logged, not raised: this runs while an exception or a rollback is already under way.
                logger.exception("could not delete the photo %s of an uncommitted upload", name)


class _Confirm:
    """The on-commit callback: marks its files as committed."""

    def __init__(self, pending: _Pending) -> None:
        self.pending = pending

    def __call__(self) -> None:
        self.pending.committed = True


class PhotoSaver:
    """Writes accepted photos to storage and remembers them until their fate is known (see the module doc)."""

    def __init__(self, *, storage: Storage, using: str) -> None:
        self.storage = storage
        self.using = using
        self._unbound = _Pending(storage)  # saved outside any transaction
        self._bound: list[_Pending] = []

    def save(self, photo: AcceptedPhoto, *, prefix: str = "") -> str:
        """Write the photo under `<prefix><sha256>.<ext>` and return the storage name to record."""
        name = self.storage.save(f"{_clean_prefix(prefix)}{photo.sha256}.{photo.extension}", ContentFile(photo.content))
        if not connections[self.using].in_atomic_block:
            self._unbound.names.append(name)
            return name
        # One callback per file, registered in the savepoint the file was saved in, so it shares its fate.
        pending = _Pending(self.storage, names=[name])
        callback = _Confirm(pending)
        weakref.finalize(callback, pending.discard)
        self._bound.append(pending)
        transaction.on_commit(callback, using=self.using)
        return name

    @property
    def names(self) -> list[str]:
        """Every name saved in this block, in order of saving within bound and unbound files."""
        return [*self._unbound.names, *(pending.names[0] for pending in self._bound)]

    def _exit(self, *, failed: bool) -> None:
        outside_transactions = not connections[self.using].in_atomic_block
        if failed:
            self._unbound.discard()
        for pending in self._bound:
            # Outside every transaction, a callback not yet called belongs to a transaction that rolled back.
            if failed or outside_transactions:
                pending.discard()


@contextmanager
def saving_photos(*, storage: Storage | None = None, using: str = DEFAULT_DB_ALIAS) -> Iterator[PhotoSaver]:
    """Yield a PhotoSaver; on the way out, delete what did not commit (see the module doc for the rules)."""
    saver = PhotoSaver(storage=storage or default_storage, using=using)
    failed = True
    try:
        yield saver
        failed = False
    finally:
        saver._exit(failed=failed)


def _clean_prefix(prefix: str) -> str:
    """A relative folder ending in '/', or ''; anything that climbs out of the storage is refused."""
    if not prefix:
        return ""
    normalised = posixpath.normpath(prefix.replace("\\", "/"))
    if prefix.startswith("/") or normalised.startswith("..") or normalised == ".":
        raise SuspiciousFileOperation(f"photo prefix {prefix!r} is not a relative folder")
    return f"{normalised}/"
