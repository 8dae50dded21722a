"""Tests of gato_ros.text_tokenizer: the shipped model, encode/decode and training."""

from gato_ros.text_tokenizer import (
    DEFAULT_CORPUS_PATH, DEFAULT_MODEL_PATH, DEFAULT_VOCAB_SIZE, main, TextTokenizer,
    train_text_tokenizer)
from gato_ros.tokenizer import TokenizerConfig
import pytest


@pytest.fixture(scope='module')
def shipped():
    """Load the shipped instruction model once.

    Returns:
        The tokenizer.
    """
    return TextTokenizer()


def corpus_lines():
    """Return the non-empty lines of the shipped corpus.

    Returns:
        List of sentences.
    """
    return [line for line in DEFAULT_CORPUS_PATH.read_text().splitlines() if line.strip()]


def test_shipped_assets_are_small_and_varied():
    """A few hundred distinct sentences; corpus, model and vocab stay under 500 KB."""
    lines = corpus_lines()
    assert len(set(lines)) == len(lines) >= 300
    for verb in ('reach', 'push', 'pick', 'place', 'stack', 'press', 'open'):
        assert any(line.lower().startswith(verb) for line in lines), verb
    total = sum(path.stat().st_size for path in (
        DEFAULT_CORPUS_PATH, DEFAULT_MODEL_PATH, DEFAULT_MODEL_PATH.with_suffix('.vocab')))
    assert total < 500_000


def test_shipped_model_fits_text_range(shipped):
    """The shipped vocabulary fills the first ids of the paper's 32,000-id text range."""
    assert shipped.vocab_size == DEFAULT_VOCAB_SIZE
    assert 256 <= shipped.vocab_size <= 512
    assert shipped.vocab_size <= TokenizerConfig().text_vocab_size
    ids = [item for line in corpus_lines() for item in shipped.encode(line)]
    assert 0 <= min(ids) and max(ids) < shipped.vocab_size


def test_round_trip_is_lower_cased_text(shipped):
    """decode(encode(s)) gives s lower-cased for every corpus sentence."""
    for line in corpus_lines():
        assert shipped.decode(shipped.encode(line)) == line.lower()
    assert shipped.encode('Pick up the RED cube') == shipped.encode('pick up the red cube')
    assert shipped.encode('') == []


def test_unseen_characters_map_to_unknown(shipped):
    """Characters absent from the corpus become the unknown id 0 instead of failing."""
    ids = shipped.encode('reach the \u03a9 cube')
    assert 0 in ids
    assert 0 not in shipped.encode('reach the red cube')


def test_bad_input(shipped, tmp_path):
    """Non-string text, out-of-range ids and missing files raise clear errors."""
    with pytest.raises(ValueError, match='string'):
        shipped.encode(3)
    with pytest.raises(ValueError, match=r'\[0, 256\)'):
        shipped.decode([1, shipped.vocab_size])
    with pytest.raises(FileNotFoundError, match='SentencePiece model'):
        TextTokenizer(tmp_path / 'none.model')
    with pytest.raises(FileNotFoundError, match='corpus'):
        train_text_tokenizer(tmp_path / 'none.txt', tmp_path / 'm')
    with pytest.raises(FileNotFoundError, match='output directory'):
        train_text_tokenizer(DEFAULT_CORPUS_PATH, tmp_path / 'no_dir' / 'm')
    with pytest.raises(ValueError, match='5000-piece'):
        train_text_tokenizer(DEFAULT_CORPUS_PATH, tmp_path / 'm', vocab_size=5000)


def test_training_reproduces_shipped_vocabulary(tmp_path):
    """Retraining on the shipped corpus gives the shipped pieces and scores."""
    path = train_text_tokenizer(DEFAULT_CORPUS_PATH, tmp_path / 'instructions')
    assert path == tmp_path / 'instructions.model'
    shipped_vocab = DEFAULT_MODEL_PATH.with_suffix('.vocab').read_text()
    assert path.with_suffix('.vocab').read_text() == shipped_vocab


def test_command_line_and_save(shipped, tmp_path):
    """The documented command trains a model; save() writes a loadable copy."""
    assert main([str(DEFAULT_CORPUS_PATH), str(tmp_path / 'small'), '--vocab-size', '64']) == 0
    small = TextTokenizer(tmp_path / 'small.model')
    assert small.vocab_size == 64
    assert small.decode(small.encode('stack the red cube')) == 'stack the red cube'
    copy = TextTokenizer(shipped.save(tmp_path / 'copy.model'))
    assert copy.encode('open the drawer') == shipped.encode('open the drawer')
