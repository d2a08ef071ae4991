"""Discovery of Durable Functions apps: functions, host.json, local.settings.json, the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from perdure import App
from perdure.azure import DFOrchestrationExecutor, FunctionApp, read_host_json
from perdure.cli.apps import load_any_app
from perdure.core.errors import InvalidArgumentError
from perdure.core.executor import OrchestrationExecutor

APPS = Path(__file__).parent / "apps"


def user_activities(app: App) -> list[str]:
    """The app's activities, less the host's built-in ones (call_http)."""
    return [name for name in app.activities if not name.startswith("BuiltIn::")]
EXAMPLES = Path(__file__).parents[2] / "examples"


def test_a_dfapp_file_becomes_a_perdure_app() -> None:
    app = load_any_app(str(APPS / "chaining" / "function_app.py"))
    assert isinstance(app, FunctionApp)
    assert list(app.orchestrators) == ["chain"]
    assert user_activities(app) == ["greet"]
    [route] = app.routes
    assert route.path == "orchestrators/{functionName}"
    assert route.auth_level == "anonymous"
    assert "POST" in route.methods and "GET" in route.methods  # methods=None: all of them
    assert app.route_prefix == "api"
    # Its orchestrators run on the SDK-driven executor.
    executor = OrchestrationExecutor(app.orchestrators["chain"], "i")
    assert isinstance(executor, DFOrchestrationExecutor)


def test_a_folder_blueprints_host_json_and_local_settings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERDURE_TEST_DF_SETTING", raising=False)
    monkeypatch.setenv("PERDURE_TEST_DF_PRESET", "from-environment")
    app = load_any_app(str(APPS / "blueprint"))
    assert isinstance(app, FunctionApp)
    # orchestration= names it; the Python name is an alias (see test_python_names_are_aliases)
    assert list(app.orchestrators) == ["shout", "shout_orchestrator"]
    assert user_activities(app) == ["upper"]
    assert sorted(r.path for r in app.routes) == ["hello", "start/{functionName}"]
    by_path = {r.path: r for r in app.routes}
    assert by_path["hello"].methods == ("GET",)
    assert by_path["hello"].auth_level == "anonymous"
    assert by_path["start/{functionName}"].auth_level == "function"  # the app's default
    assert app.route_prefix == "v1"
    assert app.hub_name == "BlueHub"
    assert os.environ["PERDURE_TEST_DF_SETTING"] == "from-local-settings"
    assert os.environ["PERDURE_TEST_DF_PRESET"] == "from-environment"  # not overridden
    monkeypatch.delenv("PERDURE_TEST_DF_SETTING")


def test_unsupported_triggers_are_skipped_with_one_warning_each(
        capsys: pytest.CaptureFixture[str]) -> None:
    app = load_any_app(str(APPS / "skipping" / "function_app.py"))
    assert user_activities(app) == ["echo"]
    err = capsys.readouterr().err.splitlines()
    assert err == ["warning: skipping function 'every_five_minutes': perdure does not run "
                   "'timerTrigger' triggers"]


def test_perdure_native_apps_load_unchanged() -> None:
    app = load_any_app(str(EXAMPLES / "hello.py"))
    assert type(app) is App
    assert "hello_sequence" in app.orchestrators


def test_host_json_defaults_and_errors(tmp_path: Path) -> None:
    assert read_host_json(tmp_path).route_prefix == "api"
    (tmp_path / "host.json").write_text('{"extensions": {"http": {"routePrefix": ""}}}')
    assert read_host_json(tmp_path).route_prefix == ""
    (tmp_path / "host.json").write_text("{not json")
    with pytest.raises(InvalidArgumentError, match="host.json"):
        read_host_json(tmp_path)
    (tmp_path / "host.json").write_text('{"extensions": {"http": {"routePrefix": 5}}}')
    with pytest.raises(InvalidArgumentError, match="routePrefix"):
        read_host_json(tmp_path)


def test_two_function_apps_in_one_module_are_refused(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text(
        "import azure.durable_functions as df\na = df.DFApp()\nb = df.DFApp()\n")
    with pytest.raises(InvalidArgumentError, match="2 function apps"):
        load_any_app(str(tmp_path))


def test_a_v1_folder_of_function_json_functions(capsys: pytest.CaptureFixture[str]) -> None:
    app = load_any_app(str(APPS / "v1"))
    assert isinstance(app, FunctionApp)
    assert list(app.orchestrators) == ["HelloSequence", "Parent"]
    assert user_activities(app) == ["Measure", "SayHello"]  # relative imports of shared code
    [route] = app.routes
    assert (route.path, route.methods, route.auth_level) == (
        "orchestrators/{functionName}", ("POST", "GET"), "anonymous")
    assert capsys.readouterr().err.splitlines() == [
        "warning: skipping function 'Ticker': perdure does not run 'timerTrigger' triggers"]


def test_python_names_are_aliases(tmp_path: Path) -> None:
    # The SDK schedules a decorated function passed as such by its Python name.
    (tmp_path / "function_app.py").write_text(
        "import azure.durable_functions as df\n"
        "app = df.DFApp()\n"
        "@app.function_name(name='Renamed')\n"
        "@app.activity_trigger(input_name='x')\n"
        "def original(x):\n"
        "    return x\n")
    app = load_any_app(str(tmp_path))
    assert user_activities(app) == ["Renamed", "original"]
    assert app.activities["original"] is app.activities["Renamed"]
