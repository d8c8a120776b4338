"""saving_photos: a file outlives the block only if the transaction that records it commits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousFileOperation
from django.db import IntegrityError, transaction

from photos.services import AcceptedPhoto, photo_accept
from photos.storage import saving_photos
from tests.factories import UserFactory
from tests.photos.images import encode, marked_image, upload

# Real commits and rollbacks: the test is not wrapped in a transaction of its own.
pytestmark = pytest.mark.django_db(transaction=True)

Files = Callable[[], list[str]]


class Boom(Exception):
    pass


def a_photo(colour: tuple[int, int, int] = (200, 30, 30)) -> AcceptedPhoto:
    image = marked_image()
    image.paste(colour, (40, 30, 64, 48))
    return photo_accept(upload=upload(encode(image, "JPEG")))


def users() -> int:
    return get_user_model().objects.count()


def test_a_committed_save_keeps_the_file_under_its_content_hash(stored_files: Files, media_root: Path) -> None:
    photo = a_photo()

    with saving_photos() as saver, transaction.atomic():
        name = saver.save(photo, prefix="cases/2026/11/")
        UserFactory()

    assert name == f"cases/2026/11/{photo.sha256}.jpg"
    assert stored_files() == [name]
    assert (media_root / name).read_bytes() == photo.content
    assert users() == 1


def test_an_exception_in_the_block_deletes_every_file_saved_in_it(stored_files: Files) -> None:
    with pytest.raises(Boom), saving_photos() as saver, transaction.atomic():
        saver.save(a_photo(), prefix="cases/")
        saver.save(a_photo((10, 200, 10)), prefix="cases/")
        UserFactory()
        assert len(stored_files()) == 2  # written at once, before the outcome is known
        raise Boom

    assert stored_files() == []
    assert users() == 0


def test_a_failing_database_write_deletes_the_files(stored_files: Files) -> None:
    UserFactory(username="taken")

    with pytest.raises(IntegrityError), saving_photos() as saver, transaction.atomic():
        saver.save(a_photo())
        get_user_model().objects.create(username="taken")

    assert stored_files() == []
    assert users() == 1


def test_a_silently_rolled_back_transaction_deletes_the_files(stored_files: Files) -> None:
    with saving_photos() as saver, transaction.atomic():
        saver.save(a_photo())
        UserFactory()
        transaction.set_rollback(True)  # no exception reaches the block

    assert stored_files() == []
    assert users() == 0


def test_a_file_saved_in_a_savepoint_that_rolls_back_goes_with_it(stored_files: Files) -> None:
    with saving_photos() as saver, transaction.atomic():
        kept = saver.save(a_photo(), prefix="kept/")
        try:
            with transaction.atomic():
                saver.save(a_photo((10, 200, 10)), prefix="dropped/")
                raise Boom
        except Boom:
            pass  # the caller handles it; the outer transaction goes on and commits
        UserFactory()

    assert stored_files() == [kept]
    assert users() == 1


def test_saved_outside_a_transaction_kept_when_the_block_ends_well(stored_files: Files) -> None:
    with saving_photos() as saver:
        name = saver.save(a_photo())

    assert stored_files() == [name]


def test_saved_outside_a_transaction_deleted_when_the_block_raises(stored_files: Files) -> None:
    with pytest.raises(Boom), saving_photos() as saver:
        saver.save(a_photo())
        raise Boom

    assert stored_files() == []


def test_a_file_whose_transaction_committed_survives_a_later_error_in_the_block(stored_files: Files) -> None:
    """Deleting it would leave a committed row naming a missing file."""
    with pytest.raises(Boom), saving_photos() as saver:
        with transaction.atomic():
            name = saver.save(a_photo())
            UserFactory()
        raise Boom  # e.g. something after the commit

    assert stored_files() == [name]
    assert users() == 1


def test_nested_in_an_outer_transaction_the_files_wait_for_its_commit(stored_files: Files) -> None:
    with transaction.atomic():
        with saving_photos() as saver:
            name = saver.save(a_photo())
        UserFactory()
        assert stored_files() == [name]

    assert stored_files() == [name]
    assert users() == 1


def test_nested_in_an_outer_transaction_that_rolls_back_later_the_files_are_deleted(stored_files: Files) -> None:
    with transaction.atomic():
        with saving_photos() as saver:
            name = saver.save(a_photo())
        UserFactory()
        assert stored_files() == [name]  # the outcome is not known when the block ends
        transaction.set_rollback(True)

    assert stored_files() == []
    assert users() == 0


def test_the_same_photo_twice_gets_two_files_and_a_rollback_keeps_the_first(stored_files: Files) -> None:
    photo = a_photo()
    with saving_photos() as saver, transaction.atomic():
        first = saver.save(photo, prefix="cases/")

    with pytest.raises(Boom), saving_photos() as saver, transaction.atomic():
        second = saver.save(photo, prefix="cases/")
        assert second != first
        assert second.startswith(f"cases/{photo.sha256}")
        raise Boom

    assert stored_files() == [first]


@pytest.mark.parametrize("prefix", ["../outside/", "/etc/", "cases/../../outside/", "."])
def test_a_prefix_that_leaves_the_storage_is_refused_and_nothing_written(prefix: str, stored_files: Files) -> None:
    with pytest.raises(SuspiciousFileOperation), saving_photos() as saver:
        saver.save(a_photo(), prefix=prefix)

    assert stored_files() == []


def test_a_prefix_without_a_trailing_slash_is_a_folder(stored_files: Files) -> None:
    photo = a_photo()
    with saving_photos() as saver:
        name = saver.save(photo, prefix="citizen/2026")

    assert name == f"citizen/2026/{photo.sha256}.jpg"


def test_the_saver_lists_what_it_saved(stored_files: Files) -> None:
    with saving_photos() as saver:
        outside = saver.save(a_photo())
        with transaction.atomic():
            inside = saver.save(a_photo((10, 200, 10)))

    assert sorted(saver.names) == sorted([outside, inside]) == stored_files()


def test_a_file_the_storage_cannot_delete_does_not_hide_the_original_error(
    stored_files: Files, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from django.core.files.storage import default_storage

    def refuse(name: str) -> None:
        raise PermissionError(name)

    with pytest.raises(Boom), saving_photos() as saver, transaction.atomic():
        name = saver.save(a_photo())
        monkeypatch.setattr(default_storage, "delete", refuse)
        raise Boom

    assert stored_files() == [name]  # the delete really failed
    assert "could not delete the photo" in caplog.text


def test_leaving_the_block_finds_a_rollback_even_if_the_callback_is_still_held(
    stored_files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Something may keep Django's discarded callbacks alive (a debugger, a capture helper): the exit check
    does not depend on when Python frees them."""
    held: list[object] = []
    original = transaction.on_commit

    def on_commit_and_hold(func: Callable[[], None], using: str | None = None, robust: bool = False) -> None:
        held.append(func)
        original(func, using=using, robust=robust)

    monkeypatch.setattr(transaction, "on_commit", on_commit_and_hold)
    with saving_photos() as saver, transaction.atomic():
        saver.save(a_photo())
        transaction.set_rollback(True)

    assert len(held) == 1
    assert stored_files() == []
