"""Tests of gato_ros.evaluation.graph: the evaluation graph's processes and how they stop."""

import signal
import subprocess
import sys
import time

import psutil

# Starts a random-policy graph, says so, and waits to be terminated.
_GRAPH_SCRIPT = """
import sys, time
from gato_ros.evaluation.graph import GraphConfig, RosGraph
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


def test_a_terminated_evaluation_stops_its_graph(tmp_path):
    """SIGTERM to the evaluating process stops the four node processes it started."""
    evaluation = subprocess.Popen([sys.executable, '-c', _GRAPH_SCRIPT, str(tmp_path)],
                                  stdout=subprocess.PIPE, text=True)
    children = []
    try:
        assert evaluation.stdout.readline().strip() == 'started'
        children = _wait_for_children(evaluation, 4)
        assert len(children) == 4
        evaluation.send_signal(signal.SIGTERM)
        assert evaluation.wait(timeout=30) == 128 + signal.SIGTERM
        _, alive = psutil.wait_procs(children, timeout=5)
        assert alive == []
    finally:
        evaluation.kill()
        for child in children:
            if child.is_running():
                child.kill()
