"""The docstring checks that ament_pep257 runs on ROS 2 Python packages."""

from pathlib import Path

from ament_pep257.main import main
import pytest

REPO = Path(__file__).resolve().parents[1]

# The project writes Google-style docstrings (Args:/Returns:/Raises: sections), which the
# default 'ament' convention flags (D406/D407 expect numpy-style underlined sections), so
# ament_pep257 runs with pydocstyle's 'google' convention. That convention is stricter than
# 'ament' in one way we want: every public module, class and function needs a docstring
# (D100-D104) and every argument a description (D417). Magic methods and __init__ (D105,
# D107) stay exempt as in 'ament': the class docstring documents construction.
PEP257_ARGS = ['--convention', 'google', '--add-ignore', 'D105', 'D107']


@pytest.mark.linter
def test_pep257():
    """Docstrings under gato_ros/, launch/ and test/ follow the convention above."""
    paths = [str(REPO / p) for p in ('gato_ros', 'launch', 'test', 'setup.py')]
    assert main(argv=[*paths, *PEP257_ARGS]) == 0, 'pep257 found docstring errors (see above)'
