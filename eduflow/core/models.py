"""What the shared parts of EduFlow record: one row per email sent (the idempotency marker)."""

from __future__ import annotations

from django.db import models


class SentEmail(models.Model):
    """An email that went out. `key` names the message (e.g. `welcome:<user id>`), so a task
    delivered twice finds the row and does not send it again."""

    key = models.CharField(max_length=200, unique=True)
    template = models.CharField(max_length=100)
    recipients = models.TextField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at", "id"]
        indexes = [models.Index(fields=["-sent_at", "id"], name="sentemail_sent_idx")]

    def __str__(self) -> str:
        return self.key
