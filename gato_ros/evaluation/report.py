"""Evaluation reports: Gato's expert-normalized score, aggregation, table, JSON and plot.

ROS-free: the episode driver hands over plain records. The normalized score follows Gato:
0 is the random policy, 1 the task's expert, ``(success - random) / (expert - random)``.
"""

from dataclasses import asdict, dataclass
import json
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class EpisodeRecord:
    """The outcome of one closed-loop episode.

    Attributes:
        task: task name.
        seed: randomization seed of the episode.
        success: whether the task's success check held during the episode.
        duration_s: simulated episode time until success or timeout (s).
        commands: motion commands the agent published during the episode.
        prompted: whether the policy was conditioned on a demonstration of the task.
    """

    task: str
    seed: int
    success: bool
    duration_s: float
    commands: int
    prompted: bool = False


def normalized_score(success_rate, expert_rate, random_rate):
    """Return Gato's expert-normalized score.

    Args:
        success_rate: the evaluated policy's success rate in [0, 1].
        expert_rate: the expert's success rate on the same task.
        random_rate: the random policy's success rate on the same task.

    Returns:
        float or None: ``(success - random) / (expert - random)``; None when the expert is no
        better than random (the score is undefined).
    """
    if expert_rate is None or random_rate is None or expert_rate <= random_rate:
        return None
    return (success_rate - random_rate) / (expert_rate - random_rate)


def baseline_key(policy, action_space):
    """Return the key of a baseline's success rate in the baselines file.

    A baseline acts in the evaluated agent's interface: random twists are another reference
    than random joint deltas, so twist baselines are stored apart.

    Args:
        policy: 'expert' or 'random'.
        action_space: 'joint' or 'twist'.

    Returns:
        str: ``policy`` for joint actions, ``'<policy>_<action_space>'`` otherwise.
    """
    return policy if action_space == 'joint' else f'{policy}_{action_space}'


def _baseline(baselines, arm, task, policy, action_space):
    return baselines.get(arm, {}).get(task, {}).get(baseline_key(policy, action_space))


def success_interval(successes, episodes, z=1.96):
    """Return the Wilson score interval of a success rate (95% for the default ``z``).

    Ten episodes a task leave a wide interval (5 of 10: 0.24-0.76); the report gives it so
    that two evaluations are not ranked on a difference their episodes cannot resolve.

    Args:
        successes: successful episodes.
        episodes: episodes run (> 0).
        z: the normal quantile of the confidence level.

    Returns:
        list: [low, high] bounds of the success rate.
    """
    rate, spread = successes / episodes, z * z / episodes
    centre = (rate + spread / 2) / (1 + spread)
    half = z * np.sqrt(rate * (1 - rate) / episodes + spread / (4 * episodes)) / (1 + spread)
    return [float(max(0.0, centre - half)), float(min(1.0, centre + half))]


def _success_figures(runs):
    successes = sum(r.success for r in runs)
    return {'episodes': len(runs), 'success_rate': successes / len(runs),
            'success_interval_95': success_interval(successes, len(runs))}


def _task_figures(runs, expert, random_rate):
    figures = _success_figures(runs)
    return {**figures,
            'normalized_score': normalized_score(figures['success_rate'], expert, random_rate),
            'mean_duration_s': float(np.mean([r.duration_s for r in runs]))}


def _mean_score(tasks, field):
    scores = [t[field] for t in tasks.values() if t.get(field) is not None]
    return float(np.mean(scores)) if scores else None


def build_report(arm, policy, records, baselines, timing, action_space='joint'):
    """Aggregate episode records into the evaluation report.

    Unprompted episodes give each task's ``success_rate`` and ``normalized_score``; when
    some episodes were prompted with a demonstration, the task also gets a ``prompted``
    entry with the same figures for those episodes (Gato reports both).

    Args:
        arm: simulated arm name.
        policy: what was evaluated ('checkpoint:<path>', 'expert' or 'random').
        records: list of :class:`EpisodeRecord`.
        baselines: ``{arm: {task: {'expert': rate, 'random': rate}}}`` success rates (keys
            of :func:`baseline_key`).
        timing: ``{'control_hz': float, 'latency_ms_p50': float, 'latency_ms_p99': float}``
            measured by the inference node.
        action_space: the agent's actions, 'joint' or 'twist': picks the baselines.

    Returns:
        dict: JSON-ready report with per-task and overall figures.
    """
    tasks = {}
    for task in sorted({r.task for r in records}):
        expert = _baseline(baselines, arm, task, 'expert', action_space)
        random_rate = _baseline(baselines, arm, task, 'random', action_space)
        tasks[task] = {'expert_success_rate': expert, 'random_success_rate': random_rate}
        for prompted in (False, True):
            runs = [r for r in records if r.task == task and r.prompted == prompted]
            if runs and prompted:
                tasks[task]['prompted'] = _task_figures(runs, expert, random_rate)
            elif runs:
                tasks[task].update(_task_figures(runs, expert, random_rate))
    unprompted = [r for r in records if not r.prompted]
    overall = {
        **(_success_figures(unprompted) if unprompted else {'success_rate': None}),
        'normalized_score': _mean_score(tasks, 'normalized_score'),
        **timing,
    }
    prompted_tasks = {name: t['prompted'] for name, t in tasks.items() if 'prompted' in t}
    if prompted_tasks:
        overall['prompted'] = {
            **_success_figures([r for r in records if r.prompted]),
            'normalized_score': _mean_score(prompted_tasks, 'normalized_score')}
    return {'arm': arm, 'policy': policy, 'action_space': action_space, 'tasks': tasks,
            'overall': overall, 'episodes': [asdict(r) for r in records]}


def _fmt(value, pattern):
    return '-' if value is None else pattern.format(value)


def _interval(figures):
    bounds = figures.get('success_interval_95')
    return '-' if bounds is None else f'{bounds[0] * 100:.0f}-{bounds[1] * 100:.0f}%'


def _row(name, figures, overall):
    return (f'{name:<14}{_fmt(figures.get("success_rate"), "{:.0%}"):>9}'
            f'{_interval(figures):>10}'
            f'{_fmt(figures.get("expert_success_rate"), "{:.0%}"):>8}'
            f'{_fmt(figures.get("random_success_rate"), "{:.0%}"):>8}'
            f'{_fmt(figures.get("normalized_score"), "{:.2f}"):>7}'
            f'{_fmt(figures.get("prompted", {}).get("success_rate"), "{:.0%}"):>10}'
            f'{_fmt(figures.get("prompted", {}).get("normalized_score"), "{:.2f}"):>8}'
            f'{_fmt(overall.get("control_hz"), "{:.1f}"):>7}'
            f'{_fmt(overall.get("latency_ms_p50"), "{:.0f}"):>8}'
            f'{_fmt(overall.get("latency_ms_p99"), "{:.0f}"):>8}')


def format_table(report):
    """Render a report as a short text table.

    Columns: task, success and its 95% interval, expert, random, score, then the prompted
    success and score ('-' without prompted episodes), Hz and latency.

    Args:
        report: a report from :func:`build_report`.

    Returns:
        str: the table.
    """
    overall = report['overall']
    lines = [f'{report["arm"]} | {report["policy"]}',
             f'{"task":<14}{"success":>9}{"95% int.":>10}{"expert":>8}{"random":>8}{"score":>7}'
             f'{"prompted":>10}{"pscore":>8}{"Hz":>7}{"p50 ms":>8}{"p99 ms":>8}']
    lines += [_row(name, figures, overall) for name, figures in report['tasks'].items()]
    lines.append(_row('overall', overall, overall))
    return '\n'.join(lines)


MARKDOWN_HEADER = (
    '| arm | task | success | prompted | expert | random | score | prompted score | '
    'control Hz | latency p50 / p99 ms |\n'
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n')


def markdown_rows(report):
    """Render a report as rows of the README's results table (:data:`MARKDOWN_HEADER`).

    Args:
        report: a report from :func:`build_report`.

    Returns:
        str: one row per task, then the arm's overall row; success cells give the episode
        count and the success rate's 95% interval.
    """
    overall = report['overall']
    timing = [_fmt(overall.get('control_hz'), '{:.1f}'),
              f'{_fmt(overall.get("latency_ms_p50"), "{:.0f}")} / '
              f'{_fmt(overall.get("latency_ms_p99"), "{:.0f}")}']
    rows = []
    for name, figures in [*report['tasks'].items(), ('**overall**', overall)]:
        prompted = figures.get('prompted', {})
        cells = [report['arm'], name, _success_cell(figures), _success_cell(prompted),
                 _fmt(figures.get('expert_success_rate'), '{:.0%}'),
                 _fmt(figures.get('random_success_rate'), '{:.0%}'),
                 _fmt(figures.get('normalized_score'), '{:.2f}'),
                 _fmt(prompted.get('normalized_score'), '{:.2f}'),
                 *(timing if name != '**overall**' else ['', ''])]
        rows.append('| ' + ' | '.join(cells) + ' |\n')
    return ''.join(rows)


def _success_cell(figures):
    """Return '43% (30; 27-61%)': rate, episodes and 95% interval ('-' without episodes)."""
    rate = _fmt(figures.get('success_rate'), '{:.0%}')
    if 'episodes' not in figures:
        return rate
    return f'{rate} ({figures["episodes"]}; {_interval(figures)})'


def append_markdown(report, path):
    """Append a report's rows to a markdown results table, starting the table if new.

    Running the evaluation once per arm with the same path builds one table.

    Args:
        report: a report from :func:`build_report`.
        path: the ``.md`` file.

    Returns:
        pathlib.Path: the file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text(encoding='utf-8') if path.exists() else ''
    path.write_text((existing or MARKDOWN_HEADER) + markdown_rows(report), encoding='utf-8')
    return path


def write_report(report, path):
    """Write a report as indented JSON, creating the folder.

    Args:
        report: a report from :func:`build_report`.
        path: destination ``.json`` file.

    Returns:
        pathlib.Path: the written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + '\n', encoding='utf-8')
    return path


def plot_report(report, path):
    """Plot per-task success of the policy against the expert and random baselines.

    Args:
        report: a report from :func:`build_report`.
        path: destination image file (PNG).

    Returns:
        pathlib.Path: the written file.
    """
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    names = list(report['tasks'])
    x = np.arange(len(names))
    series = [('policy', 'success_rate'), ('expert', 'expert_success_rate'),
              ('random', 'random_success_rate')]
    figure, axes = pyplot.subplots(figsize=(1.6 * len(names) + 2.5, 3.5))
    for i, (label, field) in enumerate(series):
        values = [report['tasks'][n][field] or 0.0 for n in names]
        axes.bar(x + (i - 1) * 0.27, values, width=0.27, label=label)
    axes.set_xticks(x, names, rotation=20)
    axes.set_ylim(0.0, 1.05)
    axes.set_ylabel('success rate')
    axes.set_title(f'{report["arm"]}: {report["policy"]}')
    axes.legend(loc='upper right', fontsize='small')
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path
