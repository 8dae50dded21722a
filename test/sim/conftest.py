"""Fixtures shared by the simulator tests."""

import mujoco
import pytest


@pytest.fixture
def mujoco_warnings():
    """Collect MuJoCo warnings in a list instead of MUJOCO_LOG.TXT in the working directory.

    Yields:
        The list the warnings' texts are appended to.

    """
    warnings = []
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(warnings.append)
    yield warnings
    mujoco.set_mju_user_warning(previous)
