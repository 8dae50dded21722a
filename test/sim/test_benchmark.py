"""Tests of gato_ros.sim.benchmark: the measurements behind docs/sim.md."""

from gato_ros.sim.benchmark import (main, measure_costs, measure_push_yaw_tolerance,
                                    measure_success)
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


def test_measure_push_yaw_tolerance_runs_the_turned_push_expert(sim):
    """Fingers across the push solve seed 0; 0.6 rad off without re-approaches does not."""
    across = measure_push_yaw_tolerance(sim, range(1), 0.0, retreats=False)
    turned = measure_push_yaw_tolerance(sim, range(1), 0.6, retreats=False)
    assert (across.task, across.episodes, across.success_rate) == ('push_block', 1, 1.0)
    assert turned.success_rate == 0.0
    assert turned.mean_steps > across.mean_steps


def test_main_prints_the_push_yaw_tolerance_table_alone(capsys):
    """With offsets the command prints one row per arm and offset, and no other table."""
    assert main(['--arms', 'ur5e', '--seeds', '1', '--push-yaw-offsets-rad', '0', '0.6']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ['arm', 'yaw_offset_rad', 'episodes', 'success_with_retreats',
                                'success_without']
    assert [line.split() for line in lines[1:]] == [
        ['ur5e', '0.00', '1', '1.000', '1.000'], ['ur5e', '0.60', '1', '1.000', '0.000']]
