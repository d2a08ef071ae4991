"""The worker: claims work from a task hub and runs orchestrations and activities."""

from .activity import ActivityClient, ActivityContext
from .worker import ClientFactory, Worker, WorkerOptions, set_client_factory

__all__ = ["ActivityClient", "ActivityContext", "ClientFactory", "Worker", "WorkerOptions",
           "set_client_factory"]
