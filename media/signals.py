"""Signals the media app sends; apps above it (lessons) connect receivers.

`asset_ready` is sent once per asset when it becomes ready after processing (a local transcode,
or Mux reporting the asset ready), after the transaction that marked it ready has committed.
Keyword arguments: `asset_id` (UUID), `kind` (str), `duration` (seconds as float, or None when
unknown). Media knows nothing of lessons; lessons uses it to fill lesson durations.
"""

from __future__ import annotations

from django.dispatch import Signal

asset_ready = Signal()
