"""Keep the progress store in step with deletions elsewhere (connected in `ProgressConfig`).

Deleting a user erases their progress; deleting a lesson erases its records. With the SQL
store the erasure joins the deleting transaction (both happen or neither); with MongoDB it runs
once that transaction has committed, so a rolled-back deletion keeps the progress.
"""

from __future__ import annotations

import functools

from django.db import transaction

from . import repository, services


def _after_commit_unless_transactional(call) -> None:
    if repository.get_progress_repository().atomic_with_database:
        call()
    else:
        transaction.on_commit(call)


def erase_user_progress(sender, instance, **kwargs) -> None:
    _after_commit_unless_transactional(
        functools.partial(services.progress_erase_user, user_id=instance.pk)
    )


def erase_lesson_progress(sender, instance, **kwargs) -> None:
    _after_commit_unless_transactional(
        functools.partial(services.progress_erase_lesson, lesson_id=instance.pk)
    )
