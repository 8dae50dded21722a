"""Tests of gato_ros.evaluation.claims: log folders and domains held by one graph at a time."""

import subprocess
import sys

from gato_ros.evaluation.claims import claim, claim_domain
import pytest

# Holds the lock of a file until its stdin closes, as another running graph would.
_HOLDER = """
import sys
from gato_ros.evaluation.claims import claim
held = claim(sys.argv[1])
print('held' if held else 'refused', flush=True)
sys.stdin.read()
"""


def _hold(path):
    holder = subprocess.Popen([sys.executable, '-c', _HOLDER, str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == 'held'
    return holder


def test_a_claim_held_by_another_process_is_refused_until_that_process_ends(tmp_path):
    """The kernel drops the lock with its process: nothing to clean up after a crash."""
    path = tmp_path / 'folder' / '.graph.lock'
    holder = _hold(path)
    try:
        assert claim(path) is None
    finally:
        holder.kill()
        holder.wait()
    mine = claim(path)
    assert mine is not None
    mine.close()


def test_domains_held_elsewhere_are_skipped_and_none_left_is_an_error(tmp_path):
    """Of three domains, two held by other processes: the third is claimed, then none is left."""
    holders = [_hold(tmp_path / f'{domain}.lock') for domain in (150, 151)]
    try:
        for _ in range(5):
            domain_id, lock = claim_domain(range(150, 153), tmp_path)
            assert domain_id == 152
            lock.close()
        domain_id, lock = claim_domain(range(150, 153), tmp_path)
        with pytest.raises(RuntimeError, match=r'every ROS domain of \[150, 151, 152\]'):
            claim_domain(range(150, 153), tmp_path)
        lock.close()
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()
