"""Tests of gato_ros.evaluation.graph: the evaluation graph's processes and how they stop."""

import signal
import subprocess
import sys
import time

from gato_ros.evaluation.claims import claim
from gato_ros.evaluation.graph import GraphConfig, RosGraph
import psutil
import pytest

# Starts a random-policy graph, says so, and waits to be terminated. With 'ignore' its
# processes inherit an ignored SIGINT, as the jobs a shell script starts with '&' do.
_GRAPH_SCRIPT = """
import signal, sys, time
from gato_ros.evaluation.graph import GraphConfig, RosGraph
signal.signal(signal.SIGINT, signal.SIG_IGN if sys.argv[2] == 'ignore'
              else signal.default_int_handler)
with RosGraph(GraphConfig(arm='panda', policy_source='random', log_dir=sys.argv[1])):
    print('started', flush=True)
    time.sleep(120)
"""


def _wait_for_children(process, count, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    children = []
    while time.monotonic() < deadline and len(children) < count:
        children = psutil.Process(process.pid).children()
        time.sleep(0.2)
    return children


@pytest.mark.parametrize('sigint', ['default', 'ignore'])
def test_a_terminated_evaluation_stops_its_graph(tmp_path, sigint):
    """SIGTERM to the evaluating process stops the four node processes it started.

    Also when they ignore SIGINT: the graph goes on to SIGTERM. While it runs, a second graph
    with the same log folder is refused before it starts anything; once it is stopped, the
    folder is free again.
    """
    evaluation = subprocess.Popen([sys.executable, '-c', _GRAPH_SCRIPT, str(tmp_path), sigint],
                                  stdout=subprocess.PIPE, text=True)
    children = []
    try:
        assert evaluation.stdout.readline().strip() == 'started'
        children = _wait_for_children(evaluation, 4)
        assert len(children) == 4
        with pytest.raises(RuntimeError, match='in use by another running graph'):
            with RosGraph(GraphConfig(arm='ur5e', policy_source='random',
                                      log_dir=str(tmp_path))):
                pass
        assert psutil.Process(evaluation.pid).children() == children
        evaluation.send_signal(signal.SIGTERM)
        assert evaluation.wait(timeout=30) == 128 + signal.SIGTERM
        _, alive = psutil.wait_procs(children, timeout=5)
        assert alive == []
        assert claim(tmp_path / '.graph.lock') is not None
    finally:
        evaluation.kill()
        for child in children:
            if child.is_running():
                child.kill()


def test_a_graph_that_cannot_start_gives_its_claims_back_at_once(tmp_path):
    """An unwritable params file fails the start and frees the folder and SIGTERM at once."""
    (tmp_path / 'graph_params.yaml').mkdir()  # writing the file now raises
    handler = signal.getsignal(signal.SIGTERM)
    graph = RosGraph(GraphConfig(arm='panda', policy_source='random', log_dir=str(tmp_path)))
    with pytest.raises(IsADirectoryError):
        graph.__enter__()
    # The object is still referenced: only an explicit release frees the lock files.
    assert claim(tmp_path / '.graph.lock') is not None
    assert signal.getsignal(signal.SIGTERM) is handler
