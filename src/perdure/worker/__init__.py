"""The worker: claims work from a task hub and runs orchestrations and activities."""

from .activity import ActivityContext
from .worker import Worker, WorkerOptions

__all__ = ["ActivityContext", "Worker", "WorkerOptions"]
