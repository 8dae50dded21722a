"""The flake8 checks that ament_flake8 runs on ROS 2 Python packages."""

from pathlib import Path

from ament_flake8.main import main_with_errors
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.linter
def test_flake8():
    """Code under gato_ros/, launch/, test/ and setup.py follows the ament flake8 rules."""
    paths = [str(REPO / p) for p in ('gato_ros', 'launch', 'test', 'setup.py')]
    rc, errors = main_with_errors(argv=paths)
    assert rc == 0, f'{len(errors)} flake8 error(s):\n' + '\n'.join(errors)
