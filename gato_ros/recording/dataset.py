"""Convert many bags into a cached episode directory, and load episode directories.

A cache directory holds one ``.npz`` per episode (:meth:`gato_ros.data.Episode.save`) and a
``manifest.json``::

    {"format_version": 1,
     "bags": {"/abs/path/of/bag": {
         "fingerprint": [[file name, size in bytes, mtime in ns], ...],
         "config_hash": "...", "config": {...},
         "episodes": ["<bag>-<path hash>-<config hash>-e0000.npz", ...],
         "summary": {...}}}}

A bag whose fingerprint and config hash match its entry, and whose episode files all exist,
is not opened again: its episodes and summary come from the cache. Otherwise its old files
are deleted and it is converted again. The manifest is rewritten after each bag, so an
interrupted run keeps what it finished. One process at a time per cache directory.
"""

import hashlib
import json
import os
from pathlib import Path

from gato_ros.data import Episode, load_episodes
from gato_ros.recording.bag_reader import convert_bag
from gato_ros.recording.summary import ConversionSummary

MANIFEST_NAME = 'manifest.json'
MANIFEST_VERSION = 1
# Part of the config hash: bump it when the conversion gives other episodes for the same bag
# and config, so that existing caches are rebuilt instead of silently reused.
CONVERTER_VERSION = 1


def bag_fingerprint(path):
    """Name, size and modification time of every file of a bag.

    Args:
        path: A bag directory or a single storage file.

    Returns:
        list[list]: ``[name, size_bytes, mtime_ns]`` per file, sorted by name.
    """
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def config_hash(config):
    """Hash of a conversion config and of :data:`CONVERTER_VERSION`.

    Args:
        config: A :class:`~gato_ros.recording.bag_reader.BagConversionConfig`.

    Returns:
        str: 16 hexadecimal digits.
    """
    text = json.dumps({'converter_version': CONVERTER_VERSION, 'config': config.to_dict()},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_manifest(cache_dir):
    """Read a cache directory's manifest; an empty one when there is none yet.

    Args:
        cache_dir: The cache directory.

    Returns:
        dict: ``{'format_version': 1, 'bags': {bag path: entry}}``.

    Raises:
        ValueError: When the manifest is not valid JSON or has another format version.
    """
    path = Path(cache_dir) / MANIFEST_NAME
    if not path.is_file():
        return {'format_version': MANIFEST_VERSION, 'bags': {}}
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f'{path}: not valid JSON ({error})') from error
    version = manifest.get('format_version') if isinstance(manifest, dict) else None
    if version != MANIFEST_VERSION or not isinstance(manifest.get('bags'), dict):
        raise ValueError(
            f'{path}: expected a manifest with format_version {MANIFEST_VERSION} and a bags '
            f'dict, got format_version {version!r}')
    return manifest


def _write_manifest(cache_dir, manifest):
    path = Path(cache_dir) / MANIFEST_NAME
    partial = path.with_name(MANIFEST_NAME + '.partial')
    partial.write_text(json.dumps(manifest, indent=1) + '\n')
    os.replace(partial, path)  # atomic: a reader never sees half a manifest


def _is_fresh(entry, fingerprint, digest, cache_dir):
    return (entry is not None and entry['fingerprint'] == fingerprint
            and entry['config_hash'] == digest
            and all((cache_dir / name).is_file() for name in entry['episodes']))


def _convert_and_store(bag, config, digest, fingerprint, cache_dir):
    episodes, summary = convert_bag(bag, config)
    stem = f'{bag.name}-{hashlib.sha256(str(bag).encode()).hexdigest()[:8]}-{digest[:8]}'
    names = [f'{stem}-e{i:04d}.npz' for i in range(len(episodes))]
    for name, episode in zip(names, episodes):
        episode.save(cache_dir / name)
    return {'fingerprint': fingerprint, 'config_hash': digest, 'config': config.to_dict(),
            'episodes': names, 'summary': summary.to_dict()}


def convert_bags(bag_paths, config, cache_dir, summary=None):
    """Convert bags into episode files in a cache directory, reusing what is cached.

    Args:
        bag_paths: Bags (directories with ``metadata.yaml``, or ``.mcap`` / ``.db3`` files).
        config: A :class:`~gato_ros.recording.bag_reader.BagConversionConfig`.
        cache_dir: Output directory (created if needed).
        summary: Optional :class:`ConversionSummary` to which every bag's summary is added
            (``bags_cached`` counts the bags served from the cache).

    Returns:
        list[Path]: The episode files of these bags, in bag order then time order.

    Raises:
        FileNotFoundError: When a bag path does not exist (checked before converting any).
        ValueError: When the existing manifest cannot be read.
    """
    bags = list(dict.fromkeys(Path(p).resolve() for p in bag_paths))
    missing = [str(bag) for bag in bags if not bag.exists()]
    if missing:
        raise FileNotFoundError(f'bag(s) not found: {missing}')
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(cache_dir)
    digest = config_hash(config)
    paths = []
    for bag in bags:
        fingerprint = bag_fingerprint(bag)
        entry = manifest['bags'].get(str(bag))
        cached = _is_fresh(entry, fingerprint, digest, cache_dir)
        if not cached:
            for name in entry['episodes'] if entry else []:
                (cache_dir / name).unlink(missing_ok=True)
            entry = _convert_and_store(bag, config, digest, fingerprint, cache_dir)
            manifest['bags'][str(bag)] = entry
            _write_manifest(cache_dir, manifest)
        paths += [cache_dir / name for name in entry['episodes']]
        if summary is not None:
            bag_summary = ConversionSummary.from_dict(entry['summary'])
            bag_summary.bags_cached = int(cached)
            summary.merge(bag_summary)
    return paths


def load_dataset(dirs):
    """Load the episodes of one or several directories.

    A directory with a ``manifest.json`` (from :func:`convert_bags`) yields the episodes it
    lists, in manifest order; any other directory yields its ``*.npz`` files in name order
    (:func:`gato_ros.data.load_episodes`).

    Args:
        dirs: A directory, or a list of them.

    Returns:
        list[Episode]: The episodes, directory by directory.

    Raises:
        FileNotFoundError: When a directory, or an episode file its manifest lists, does not
            exist, or a directory yields no episode.
        ValueError: When a manifest or an episode file is invalid.
    """
    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    episodes = []
    for directory in map(Path, dirs):
        if not (directory / MANIFEST_NAME).is_file():
            episodes += load_episodes(directory)
            continue
        names = [name for entry in read_manifest(directory)['bags'].values()
                 for name in entry['episodes']]
        if not names:
            raise FileNotFoundError(
                f'{directory}: the manifest lists no episode (every bag was skipped; see the '
                'summaries in manifest.json)')
        episodes += [Episode.load(directory / name) for name in names]
    return episodes
