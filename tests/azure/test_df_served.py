"""The Durable Functions scenarios of ``test_df_worker`` again, against a real
``perdure serve`` process (one per module and store, on SQLite and PostgreSQL):
the same app file, the same HTTP calls, across a process boundary."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).parents[1]))
from http_server import serve  # noqa: E402
from store import pg  # noqa: E402

# Collected here again: each runs with this module's ``http`` fixture.
from test_df_worker import (  # noqa: E402, F401
    test_a_custom_class_as_the_client_input,
    test_a_duplicate_start_of_an_active_id_is_refused,
    test_a_durable_client_in_an_activity,
    test_a_monitor_loop_with_continue_as_new,
    test_an_activity_gets_a_function_context,
    test_an_event_raced_against_a_timer,
    test_custom_classes_through_sync_and_async_activities,
    test_http_request_and_response_objects,
    test_retries_until_success_and_until_exhaustion,
    test_rewind_of_an_exhausted_retry_reruns_its_last_attempt,
    test_rewind_terminate_suspend_resume_purge_over_the_management_api,
    test_sub_orchestrations,
    test_wait_for_completion_or_create_check_status_response,
)

pytestmark = pytest.mark.processes
APP = Path(__file__).parent / "apps" / "features"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pg.postgres)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) \
        -> Iterator[str]:
    """``perdure serve`` on the features app, shared by the module's tests of one store."""
    schema = None
    if request.param == "sqlite":
        store = f"sqlite:///{tmp_path_factory.mktemp('df-served') / 'hub.db'}"
    else:
        pg.require_server()
        schema = f"test_{uuid.uuid4().hex[:12]}"
        store = pg.hub_url(schema)
    try:
        with serve(APP, store, "--lease", "5") as url:
            yield url
    finally:
        if schema is not None:
            with psycopg.connect(pg.DATABASE_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(schema)))


@pytest.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=30) as session:
        yield session
