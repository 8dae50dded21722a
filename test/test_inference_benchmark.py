"""Tests of gato_ros.benchmark: structure and consistency of the measurements, no timing limits.

(Named after what it measures: ``test_benchmark.py`` would collide with
``test/sim/test_benchmark.py`` under pytest's default import mode.)
"""

import json
import mmap

from gato_ros.benchmark import (arm_spec, BenchConfig, format_report, LatencyStats,
                                make_arm_episode, PeakMemory, run_benchmark,
                                save_random_checkpoint, time_control_steps, write_report)
from gato_ros.configuration_gato import GatoConfig
from gato_ros.policy import GatoPolicy
from gato_ros.tokenizer import timestep_token_count
import numpy as np
import pytest
import torch

STEPS = 6


@pytest.fixture(scope='module')
def report():
    """Measure the gato-test preset once, with training throughput, on one thread."""
    config = BenchConfig(presets=('gato-test',), threads=1, steps=STEPS, decode_repeats=2,
                         train=True, train_batch_size=2, train_steps=1)
    return run_benchmark(config)


@pytest.fixture(scope='module')
def result(report):
    """Return the gato-test measurements."""
    return report['results'][0]


@pytest.fixture
def policy(tmp_path):
    """Return a random-weights gato-test policy of the benchmark task and an episode."""
    config = BenchConfig(presets=('gato-test',))
    episode = make_arm_episode(config, 12, np.random.default_rng(0))
    save_random_checkpoint('gato-test', config, episode, tmp_path)
    return GatoPolicy.from_pretrained(tmp_path), episode


def _check_stats(stats, count):
    assert stats['count'] == count
    assert 0 < stats['median_s'] <= stats['p90_s'] <= stats['p99_s'] <= stats['max_s']


def test_report_has_machine_config_and_one_result_per_preset(report, result):
    """The report describes where it ran, with which settings, and every preset."""
    assert report['format_version'] == 1
    assert report['machine']['device'] == 'cpu'
    assert report['machine']['torch_threads'] == 1
    assert report['config']['steps'] == STEPS
    assert [item['preset'] for item in report['results']] == ['gato-test']


def test_latency_is_split_into_steady_and_rebuild_steps(result):
    """Every timed step is steady or a rebuild; the 256-token context rebuilds in 6 steps."""
    _check_stats(result['latency'], STEPS)
    rebuilds = result['rebuild']['count']
    assert rebuilds >= 1
    _check_stats(result['steady'], STEPS - rebuilds)
    _check_stats(result['rebuild'], rebuilds)
    assert result['control_rate_hz'] == pytest.approx(1.0 / result['latency']['median_s'])


def test_fits_follow_the_latency_percentiles(result):
    """A rate fits when p99 is within its period; 'median only' when just the median is."""
    assert set(result['fits']) == {'10', '20'}
    for rate, verdict in result['fits'].items():
        period_s = 1.0 / float(rate)
        if result['latency']['p99_s'] <= period_s:
            assert verdict == 'yes'
        elif result['latency']['median_s'] <= period_s:
            assert verdict == 'median only'
        else:
            assert verdict == 'no'


def test_kv_cache_speedup_is_the_ratio_of_the_two_medians(result):
    """Both decodings choose the same action; the speedup is recomputed over cached."""
    assert result['actions_match']
    assert result['cached_action_s'] > 0 and result['recomputed_action_s'] > 0
    assert result['kv_cache_speedup'] == pytest.approx(
        result['recomputed_action_s'] / result['cached_action_s'])
    assert 0 < result['decode_window_tokens'] <= result['context_length']


def test_memory_and_prefill_match_the_model_dimensions(result):
    """Parameter count and KV cache bytes agree with the preset's dimensions."""
    model_config = GatoConfig.from_preset('gato-test')
    assert result['num_parameters'] == model_config.count_parameters()
    assert result['parameter_bytes'] == 4 * result['num_parameters']
    tokens = result['prefill_tokens']
    assert result['context_length'] - result['step_tokens'] < tokens <= result['context_length']
    # Keys and values, per layer, per token, one float32 per channel.
    assert result['kv_cache_bytes'] == (2 * model_config.num_layers * tokens
                                        * model_config.hidden_size * 4)
    assert result['prefill_s'] > 0 and result['checkpoint_load_s'] > 0
    assert result['peak_rss_bytes'] > result['peak_rss_growth_bytes'] >= 0
    assert result['peak_device_bytes'] is None
    assert result['step_tokens'] == timestep_token_count(arm_spec(BenchConfig()))


def test_training_throughput_counts_the_batch_tokens(result):
    """Tokens per second is the batch's token count over the median pass time."""
    train = result['train']
    assert train['batch_size'] == 2
    assert train['batch_tokens'] == 2 * result['prefill_tokens']
    assert train['tokens_per_s'] == pytest.approx(train['batch_tokens'] / train['step_s'])


def test_report_round_trips_through_json_and_formats_as_a_table(report, tmp_path):
    """The JSON file holds the report; the table names the preset and the key rows."""
    path = write_report(report, tmp_path / 'out' / 'bench.json')
    assert json.loads(path.read_text()) == json.loads(json.dumps(report))
    table = format_report(report)
    for text in ('gato-test', 'KV cache speedup', 'prefill (', 'peak RSS (growth)',
                 'train throughput', 'fits 20 Hz'):
        assert text in table


def test_explicit_warmup_and_rebuild_flags(policy):
    """With no warm-up the first step starts from an empty window; rebuilds shrink it."""
    policy, episode = policy
    config = BenchConfig(presets=('gato-test',), steps=12, warmup_steps=0)
    records = time_control_steps(policy, episode, config)
    assert len(records) == 12
    assert records[0][1] == 0 and not records[0][2]
    windows = [before for _, before, _ in records] + [policy.window_tokens]
    for index, (_, _, rebuilt) in enumerate(records):
        assert rebuilt == (windows[index + 1] < windows[index])
    assert any(rebuilt for _, _, rebuilt in records)


def test_latency_stats_of_known_values():
    """Median and percentiles are numpy's; no duration gives None."""
    stats = LatencyStats.of([0.004, 0.001, 0.003, 0.002])
    assert stats.count == 4 and stats.median_s == pytest.approx(0.0025)
    assert stats.max_s == 0.004 and stats.p90_s == pytest.approx(0.0037)
    assert LatencyStats.of([]) is None


def test_peak_memory_sees_an_allocation():
    """Touching 64 MiB inside the block raises the measured peak by about that much."""
    # A fresh anonymous mapping: malloc could hand back pages this long test process already
    # holds (glibc's adaptive mmap threshold), which would not raise the resident size.
    block = mmap.mmap(-1, 64 * 2 ** 20)
    with PeakMemory('cpu') as memory:
        np.frombuffer(block, np.uint8)[:] = 1
    assert memory.growth_bytes >= 48 * 2 ** 20
    assert memory.peak_bytes > memory.growth_bytes
    assert memory.device_bytes is None
    block.close()


@pytest.mark.parametrize('fields, message', [
    ({'presets': ('gato-huge',)}, 'presets must be'),
    ({'presets': ()}, 'presets must be'),
    ({'steps': 0}, 'steps must be >= 1'),
    ({'warmup_steps': -1}, 'warmup_steps must be None or positive'),
    ({'control_rates_hz': (0.0,)}, 'control_rates_hz'),
])
def test_bad_settings_raise(fields, message):
    """Invalid settings name the field and the value."""
    with pytest.raises(ValueError, match=message):
        BenchConfig(**fields)


def test_cuda_without_a_cuda_device_raises(monkeypatch):
    """Asking for CUDA where torch sees none is refused before anything is built."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(ValueError, match='no CUDA device'):
        BenchConfig(device='cuda')
