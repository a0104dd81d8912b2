"""Entry point for task consumers: ``huey_consumer app.worker.huey -w 2 -k thread``.

Building the app imports every feature, so every task is registered before the
consumer reads the queue (``app.tasks`` alone knows none of them).
"""

from app.tasks import consumer_app, huey

consumer_app()

__all__ = ["huey"]
