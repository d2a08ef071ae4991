"""The orchestration client: start, query, signal and manage instances.

:class:`Client` is async; :class:`SyncClient` is its blocking facade. Both talk
to the task hub directly, so they work in the serving process, in another
process, or on another machine sharing the hub. They carry no transport: the
Starlette check-status helpers are the HTTP layer's
(:class:`perdure.http.HttpClient`).
"""

from ..store.base import Generation, HubStats, StatusCount
from .client import Client, Orchestrators, SyncClient
from .entities import CleanEntityStorageResult, EntityMetadata, EntityPage
from .export import HistoryExport
from .status import OrchestrationStatus, StatusPage, history_to_df
from .urls import DEFAULT_BASE_URL, WEBHOOK_PATH, UrlQuery, management_urls

__all__ = ["DEFAULT_BASE_URL", "WEBHOOK_PATH", "CleanEntityStorageResult", "Client",
           "EntityMetadata", "EntityPage", "Generation", "HistoryExport", "HubStats",
           "OrchestrationStatus", "Orchestrators", "StatusCount", "StatusPage", "SyncClient",
           "UrlQuery", "history_to_df", "management_urls"]
