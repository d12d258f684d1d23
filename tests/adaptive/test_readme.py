from __future__ import annotations

import doctest
from pathlib import Path


def test_readme_example_runs():
    readme = Path(__file__).resolve().parents[2] / "adaptive" / "README.md"
    result = doctest.testfile(str(readme), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 5
    assert result.failed == 0
