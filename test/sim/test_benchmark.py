"""Tests of gato_ros.sim.benchmark: the measurements behind docs/sim.md."""

from gato_ros.sim.benchmark import main, measure_costs, measure_success
from gato_ros.sim.experts import make_expert
from gato_ros.sim.scene import ArmSim
import pytest


@pytest.fixture(scope='module')
def sim():
    """Yield one small-image panda simulator."""
    with ArmSim('panda', image_size=(32, 32)) as arm_sim:
        yield arm_sim


def test_measure_success_counts_episodes_and_successes(sim):
    """Two seeds of the reach expert: two episodes, all solved, positive wall time."""
    expert = make_expert('reach_target')
    stats = measure_success(sim, 'reach_target', range(2), lambda seed: expert)
    assert (stats.arm, stats.task, stats.episodes, stats.success_rate) == (
        'panda', 'reach_target', 2, 1.0)
    assert 0 < stats.mean_steps <= 80 and stats.seconds_per_episode > 0.0


def test_measure_costs_reports_every_cost(sim):
    """Physics, control-step and render costs are positive; a control step is many steps."""
    costs = measure_costs(sim, 'press_button', repeats=20)
    assert set(costs) == {'physics_step_ms', 'control_step_ms', 'render_scene_ms',
                          'render_wrist_ms'}
    assert all(value > 0.0 for value in costs.values())
    assert costs['control_step_ms'] > 10 * costs['physics_step_ms']


def test_main_prints_both_tables(capsys):
    """The command line prints one cost row and one expert row per arm and task."""
    assert main(['--arms', 'ur5e', '--tasks', 'reach_target', '--seeds', '1',
                 '--image-size', '32', '32']) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if line.startswith('ur5e')]
    assert len(rows) == 2
    assert rows[1][2:4] == ['1', '1.000']
    assert float(rows[1][-1]) in (0.0, 1.0)
