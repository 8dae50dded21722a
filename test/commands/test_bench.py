"""Tests for gato_ros/commands/bench.py (``gato-ros bench``)."""

import argparse
import json

from gato_ros.commands import bench


def parse(argv):
    """Parse the command's options like gato_ros.cli does."""
    parser = argparse.ArgumentParser(prog='gato-ros bench')
    bench.add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_are_the_cpu_presets():
    """Without options the two CPU presets are measured on the CPU, without training."""
    args = parse([])
    assert args.presets == ['gato-5m', 'gato-20m']
    assert args.device == 'cpu' and not args.train and args.json is None


def test_bench_prints_the_table_and_writes_json(tmp_path, capsys):
    """Options reach the benchmark; the table is printed; the JSON report is written."""
    path = tmp_path / 'bench.json'
    argv = ['--presets', 'gato-test', '--steps', '3', '--warmup-steps', '1', '--repeats', '1',
            '--threads', '1', '--context', '160', '--json', str(path)]
    assert bench.run(parse(argv)) == 0
    printed = capsys.readouterr().out
    assert 'measuring gato-test on cpu (1 threads)' in printed
    assert 'KV cache speedup' in printed and f'wrote {path}' in printed
    report = json.loads(path.read_text())
    assert report['config']['warmup_steps'] == 1
    result = report['results'][0]
    assert result['context_length'] == 160
    assert result['latency']['count'] == 3
    assert result['train'] is None


def test_bad_option_exits_with_status_2(capsys):
    """An invalid value or a context too short for the task is reported with status 2."""
    assert bench.run(parse(['--presets', 'gato-test', '--steps', '0'])) == 2
    assert 'error: steps must be >= 1, got 0' in capsys.readouterr().out
    assert bench.run(parse(['--presets', 'gato-test', '--context', '64'])) == 2
    assert 'error: ' in capsys.readouterr().out
