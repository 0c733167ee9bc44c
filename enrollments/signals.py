"""Signals sent by the enrollments app.

`enrollment_completed` is sent once per enrollment, after the transaction that completed it
commits, with `sender=Enrollment` and `enrollment=<the completed Enrollment>`. Other apps
(certificates, notifications) listen to it instead of being called from here.
"""

from django.dispatch import Signal

enrollment_completed = Signal()
