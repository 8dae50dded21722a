"""Tests for gato_ros/recording/dataset.py: the episode cache, its manifest and loading."""

import json
import os

from bag_builder import CAMERA, JOINT_NAMES, WRIST, write_demo_bag
from gato_ros.data import Episode
from gato_ros.recording import bag_reader
from gato_ros.recording.bag_reader import BagConversionConfig
from gato_ros.recording.dataset import convert_bags, load_dataset, MANIFEST_NAME
from gato_ros.recording.summary import ConversionSummary
import numpy as np
import pytest

CONFIG = BagConversionConfig(JOINT_NAMES, image_topics={'image': CAMERA, 'image_wrist': WRIST})


@pytest.fixture
def bags(tmp_path):
    """Write three bags: two good ones (a success, a failure), one without wrist camera."""
    return [write_demo_bag(tmp_path / 'bag_a'), write_demo_bag(tmp_path / 'bag_b'),
            write_demo_bag(tmp_path / 'no_wrist', wrist=False)]


@pytest.fixture
def reader_calls(monkeypatch):
    """Count the bags opened through rosbags' AnyReader (still reading them)."""
    calls = []
    real = bag_reader.AnyReader

    def counting_reader(paths, **kwargs):
        calls.append(paths)
        return real(paths, **kwargs)

    monkeypatch.setattr(bag_reader, 'AnyReader', counting_reader)
    return calls


def assert_same_episodes(first, second):
    """Equal task fields and arrays."""
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert (a.task, a.instruction, a.success) == (b.task, b.instruction, b.success)
        assert sorted(a.observations) == sorted(b.observations)
        for key in a.observations:
            np.testing.assert_array_equal(a.observations[key], b.observations[key])
        np.testing.assert_array_equal(a.actions, b.actions)


def test_convert_writes_episodes_and_manifest(tmp_path, bags):
    """One file per kept episode, a manifest entry per bag, the bad bag only summarized."""
    summary = ConversionSummary()
    paths = convert_bags(bags, CONFIG, tmp_path / 'cache', summary)
    assert len(paths) == 2 and all(p.is_file() for p in paths)
    assert summary.bags == 3 and summary.bags_cached == 0 and summary.episodes_used == 2
    assert sorted(s.reason for s in summary.skipped) == ['missing_topic', 'unsuccessful',
                                                         'unsuccessful']
    manifest = json.loads((tmp_path / 'cache' / MANIFEST_NAME).read_text())
    assert list(manifest['bags']) == [str(b.resolve()) for b in bags]
    entry = manifest['bags'][str(bags[0].resolve())]
    assert entry['episodes'] == [paths[0].name]
    assert entry['config']['joint_names'] == list(JOINT_NAMES)
    assert [name for name, _, _ in entry['fingerprint']] == ['bag_a.mcap', 'metadata.yaml']
    episode = Episode.load(paths[0])
    assert len(episode) == 9 and episode.success is True
    assert_same_episodes(load_dataset(tmp_path / 'cache'), [Episode.load(p) for p in paths])


def test_second_run_reads_the_cache_without_opening_bags(tmp_path, bags, monkeypatch):
    """Same bags and config: no bag is opened, same files, same summary counts."""
    first_summary = ConversionSummary()
    first = convert_bags(bags, CONFIG, tmp_path / 'cache', first_summary)
    before = load_dataset(tmp_path / 'cache')

    def refuse(*args, **kwargs):
        raise AssertionError('a cached bag was opened')

    monkeypatch.setattr(bag_reader, 'AnyReader', refuse)
    summary = ConversionSummary()
    assert convert_bags(bags, CONFIG, tmp_path / 'cache', summary) == first
    assert summary.bags_cached == 3 and summary.skipped == first_summary.skipped
    assert summary.episodes_used == first_summary.episodes_used
    assert_same_episodes(load_dataset([tmp_path / 'cache']), before)


def test_changed_config_or_bag_is_converted_again(tmp_path, bags, reader_calls):
    """A new config hash or a touched bag file misses the cache; stale files are removed."""
    cache = tmp_path / 'cache'
    first = convert_bags(bags[:1], CONFIG, cache)
    assert len(reader_calls) == 1
    keep_all = BagConversionConfig(JOINT_NAMES, image_topics=CONFIG.image_topics,
                                   drop_unsuccessful=False)
    second = convert_bags(bags[:1], keep_all, cache)
    assert len(reader_calls) == 2 and len(second) == 2
    assert not first[0].exists()  # the old config's file is gone
    assert sorted(cache.glob('*.npz')) == sorted(second)
    convert_bags(bags[:1], keep_all, cache)
    assert len(reader_calls) == 2
    storage = bags[0] / 'bag_a.mcap'
    stat = storage.stat()
    os.utime(storage, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))
    convert_bags(bags[:1], keep_all, cache)
    assert len(reader_calls) == 3


def test_deleted_episode_file_is_rebuilt(tmp_path, bags, reader_calls):
    """A cache entry whose file disappeared is converted again."""
    paths = convert_bags(bags[:1], CONFIG, tmp_path / 'cache')
    paths[0].unlink()
    assert convert_bags(bags[:1], CONFIG, tmp_path / 'cache') == paths
    assert paths[0].is_file() and len(reader_calls) == 2


def test_missing_bag_raises_before_converting(tmp_path, bags, reader_calls):
    """A typo in a bag path stops the run before any bag is read."""
    with pytest.raises(FileNotFoundError, match='nope'):
        convert_bags([bags[0], tmp_path / 'nope'], CONFIG, tmp_path / 'cache')
    assert reader_calls == []


def test_load_dataset_plain_npz_directory_and_errors(tmp_path, bags):
    """A directory without manifest loads its *.npz; bad manifests and empty ones raise."""
    paths = convert_bags(bags[:1], CONFIG, tmp_path / 'cache')
    plain = tmp_path / 'plain'
    plain.mkdir()
    Episode.load(paths[0]).save(plain / 'x.npz')
    assert len(load_dataset([tmp_path / 'cache', plain])) == 2
    only_bad = tmp_path / 'only_bad'
    convert_bags(bags[2:], CONFIG, only_bad)
    with pytest.raises(FileNotFoundError, match='lists no episode'):
        load_dataset(only_bad)
    (only_bad / MANIFEST_NAME).write_text('{"format_version": 7, "bags": {}}')
    with pytest.raises(ValueError, match='format_version 1'):
        load_dataset(only_bad)
