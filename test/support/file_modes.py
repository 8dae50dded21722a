"""Assertions on the permissions of files a command writes."""

from pathlib import Path
import stat


def assert_readable_by_all(directory):
    """Assert every file under ``directory`` can be read by group and others.

    Args:
        directory: the folder to walk.
    """
    for path in Path(directory).rglob('*'):
        if path.is_file():
            mode = path.stat().st_mode
            assert mode & stat.S_IRGRP and mode & stat.S_IROTH, f'{path}: {oct(mode)}'
