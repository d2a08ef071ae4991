"""examples/test_human_interaction.py, the harness's example, passes."""

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "test_human_interaction.py"


def test_the_example_tests_pass():
    spec = importlib.util.spec_from_file_location("example_harness_tests", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = [n for n in vars(module) if n.startswith("test_")]
    assert len(names) == 3
    for name in names:
        getattr(module, name)()
