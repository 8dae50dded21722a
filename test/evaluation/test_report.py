"""Expert-normalized scores, aggregation and rendering of evaluation reports."""

import json

from gato_ros.evaluation.report import (
    append_markdown, build_report, EpisodeRecord, format_table, MARKDOWN_HEADER,
    normalized_score, plot_report, success_interval, write_report)
import pytest

BASELINES = {'panda': {'reach_target': {'expert': 1.0, 'random': 0.0},
                       'push_block': {'expert': 0.9, 'random': 0.1}}}
TIMING = {'control_hz': 9.8, 'latency_ms_p50': 40.0, 'latency_ms_p99': 55.0}


def _records():
    return ([EpisodeRecord('reach_target', s, s < 3, 4.0, 40) for s in range(4)]
            + [EpisodeRecord('push_block', s, s == 0, 10.0, 100) for s in range(2)])


@pytest.mark.parametrize('success, expert, random_rate, expected', [
    (1.0, 1.0, 0.0, 1.0), (0.0, 1.0, 0.0, 0.0), (0.5, 0.9, 0.1, 0.5), (0.05, 0.9, 0.1, -0.0625),
    (0.5, 0.2, 0.2, None), (0.5, None, 0.0, None)])
def test_normalized_score_is_zero_at_random_and_one_at_expert(
        success, expert, random_rate, expected):
    """The score is linear between the random (0) and expert (1) success rates."""
    assert normalized_score(success, expert, random_rate) == pytest.approx(expected)


@pytest.mark.parametrize('successes, episodes, low, high', [
    (5, 10, 0.2366, 0.7634), (0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0),
    (13, 30, 0.2738, 0.6080), (147, 180, 0.7537, 0.8664)])
def test_the_success_interval_is_wilsons(successes, episodes, low, high):
    """Wilson's 95% interval: symmetric about one half, inside [0, 1] at 0 and all."""
    assert success_interval(successes, episodes) == pytest.approx([low, high], abs=1e-4)


def test_report_aggregates_per_task_and_overall():
    """Per-task rates, scores and the overall mean come from the records and baselines."""
    report = build_report('panda', 'checkpoint:x', _records(), BASELINES, TIMING)
    reach, push = report['tasks']['reach_target'], report['tasks']['push_block']
    assert (reach['episodes'], reach['success_rate'], reach['normalized_score']) == (4, 0.75, 0.75)
    assert push['success_rate'] == 0.5
    assert push['normalized_score'] == pytest.approx(0.5)
    assert report['overall']['success_rate'] == pytest.approx(4 / 6)
    assert report['overall']['episodes'] == 6
    assert report['overall']['success_interval_95'] == success_interval(4, 6)
    assert reach['success_interval_95'] == success_interval(3, 4)
    assert report['overall']['normalized_score'] == pytest.approx(0.625)
    assert report['overall']['latency_ms_p99'] == 55.0


def test_twist_agents_are_scored_against_the_twist_baselines():
    """With action space twist the report reads expert_twist / random_twist."""
    baselines = {'panda': {'reach_target': {'expert': 1.0, 'random': 0.0, 'expert_twist': 0.8,
                                            'random_twist': 0.2}}}
    report = build_report('panda', 'checkpoint:x', _records()[:4], baselines, TIMING, 'twist')
    reach = report['tasks']['reach_target']
    assert (reach['expert_success_rate'], reach['random_success_rate']) == (0.8, 0.2)
    assert reach['normalized_score'] == pytest.approx((0.75 - 0.2) / 0.6)
    assert report['action_space'] == 'twist'


def test_missing_baselines_leave_the_score_undefined():
    """Without a baseline for a task its score is None and the overall mean skips it."""
    report = build_report('ur5e', 'random', _records(), BASELINES, TIMING)
    assert report['tasks']['reach_target']['normalized_score'] is None
    assert report['overall']['normalized_score'] is None
    assert '-' in format_table(report)


def test_table_json_and_plot_are_written(tmp_path):
    """The table names every task; JSON round-trips; the plot is a PNG file."""
    report = build_report('panda', 'checkpoint:x', _records(), BASELINES, TIMING)
    table = format_table(report)
    assert 'reach_target' in table and 'push_block' in table and '75%' in table
    path = write_report(report, tmp_path / 'out' / 'report.json')
    assert json.loads(path.read_text()) == report
    png = plot_report(report, tmp_path / 'plot.png')
    assert png.read_bytes()[:4] == b'\x89PNG'


def test_prompted_episodes_are_reported_next_to_the_unprompted_ones():
    """Prompted records get their own per-task and overall figures; the rest is unchanged."""
    prompted = [EpisodeRecord('reach_target', s, s == 0, 4.0, 40, prompted=True)
                for s in range(4)]
    report = build_report('panda', 'checkpoint:x', _records() + prompted, BASELINES, TIMING)
    reach = report['tasks']['reach_target']
    assert (reach['episodes'], reach['success_rate']) == (4, 0.75)
    assert reach['prompted'] == {'episodes': 4, 'success_rate': 0.25,
                                 'success_interval_95': success_interval(1, 4),
                                 'normalized_score': 0.25, 'mean_duration_s': 4.0}
    assert 'prompted' not in report['tasks']['push_block']
    assert report['overall']['success_rate'] == pytest.approx(4 / 6)
    assert report['overall']['prompted'] == {'episodes': 4, 'success_rate': 0.25,
                                             'success_interval_95': success_interval(1, 4),
                                             'normalized_score': 0.25}
    row = next(line for line in format_table(report).splitlines()
               if line.startswith('reach_target'))
    assert row.split()[1:8] == ['75%', '30-95%', '100%', '0%', '0.75', '25%', '0.25']


def test_markdown_rows_build_one_table_over_arms(tmp_path):
    """Each run appends its arm's rows; the header is written once."""
    path = tmp_path / 'results.md'
    append_markdown(build_report('panda', 'checkpoint:x', _records(), BASELINES, TIMING), path)
    append_markdown(build_report('ur5e', 'checkpoint:x', _records(), BASELINES, TIMING), path)
    text = path.read_text()
    assert text.startswith(MARKDOWN_HEADER)
    assert sum(line.startswith('| --- ') for line in text.splitlines()) == 1
    rows = text.splitlines()[2:]
    assert len(rows) == 6 and rows[2].startswith('| panda | **overall** |')
    assert rows[0] == ('| panda | push_block | 50% (2; 9-91%) | - | 90% | 10% | 0.50 | - | 9.8 | '
                       '40 / 55 |')
    assert rows[5] == '| ur5e | **overall** | 67% (6; 30-90%) | - | - | - | - | - |  |  |'
