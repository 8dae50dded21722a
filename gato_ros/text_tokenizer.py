r"""SentencePiece subword tokenizer for robot instructions.

This module is part of the ROS-free core: it imports neither rclpy nor message packages.

The project ships its own small model, ``assets/text/instructions.model`` (with its ``.vocab``
listing), trained by :func:`train_text_tokenizer` from the project's own instruction corpus
``assets/text/corpus.txt``. Nothing is downloaded. To remake it after editing the corpus::

    python -m gato_ros.text_tokenizer gato_ros/assets/text/corpus.txt \
        gato_ros/assets/text/instructions --vocab-size 256

Text ids: Gato reserves the id range [0, 32000) for text (``TokenizerConfig.text_vocab_size``
in the paper presets). The shipped model has only ``DEFAULT_VOCAB_SIZE`` pieces, so it fills
the first ids of that range and the rest stay unused; smaller CPU presets may shrink the text
range as long as it holds this model's vocabulary (and the 1024 discrete ids sharing it).

The model lower-cases and NFKC-normalizes its input (SentencePiece rule ``nmt_nfkc_cf``), so
"Pick up the Red cube." and "pick up the red cube." differ only by the final period.
"""

import argparse
from pathlib import Path
import sys

import sentencepiece as spm

ASSET_DIR = Path(__file__).resolve().parent / 'assets' / 'text'
DEFAULT_MODEL_PATH = ASSET_DIR / 'instructions.model'
DEFAULT_CORPUS_PATH = ASSET_DIR / 'corpus.txt'
DEFAULT_VOCAB_SIZE = 256


def train_text_tokenizer(corpus_path, out_prefix, vocab_size: int = DEFAULT_VOCAB_SIZE) -> Path:
    """Train a SentencePiece unigram model on a corpus of one instruction per line.

    Training runs on one thread so that the same corpus gives the same model.

    Args:
        corpus_path: text file with one sentence per line.
        out_prefix: output path without suffix; ``<prefix>.model`` and ``<prefix>.vocab``
            are written.
        vocab_size: number of pieces (including the unknown piece, id 0).

    Returns:
        The path of the written ``.model`` file.

    Raises:
        FileNotFoundError: if the corpus or the output directory does not exist.
        ValueError: if the vocabulary size is too small or too large for the corpus.

    """
    corpus_path = Path(corpus_path)
    if not corpus_path.is_file():
        raise FileNotFoundError(f'instruction corpus not found: {corpus_path}')
    if vocab_size < 8:
        raise ValueError(f'vocab_size must be >= 8, got {vocab_size}')
    out_prefix = Path(out_prefix)
    if not out_prefix.parent.is_dir():
        raise FileNotFoundError(f'output directory not found: {out_prefix.parent}')
    try:
        spm.SentencePieceTrainer.train(
            input=str(corpus_path), model_prefix=str(out_prefix), vocab_size=vocab_size,
            model_type='unigram', character_coverage=1.0,
            normalization_rule_name='nmt_nfkc_cf',
            # Instructions are single prompts: no begin/end/pad pieces, so every id but the
            # unknown piece is a real subword.
            unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
            num_threads=1, minloglevel=2)
    except RuntimeError as error:
        raise ValueError(
            f'could not train a {vocab_size}-piece model on {corpus_path}: {error}') from error
    return out_prefix.with_suffix('.model')


class TextTokenizer:
    """Encode and decode instructions with a SentencePiece model.

    Args:
        model_path: the ``.model`` file (default: the shipped model).

    Raises:
        FileNotFoundError: if the model file does not exist.

    """

    def __init__(self, model_path=DEFAULT_MODEL_PATH):
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f'SentencePiece model not found: {self.model_path}')
        self._processor = spm.SentencePieceProcessor(model_file=str(self.model_path))

    @property
    def vocab_size(self) -> int:
        """Return the number of pieces; ids lie in [0, vocab_size)."""
        return self._processor.get_piece_size()

    def encode(self, text: str) -> list:
        """Return the subword ids of an instruction.

        Args:
            text: the instruction.

        Returns:
            List of int ids in [0, vocab_size); empty for an empty or blank text.

        Raises:
            ValueError: if ``text`` is not a string.

        """
        if not isinstance(text, str):
            raise ValueError(f'text must be a string, got {type(text).__name__}')
        return list(self._processor.encode(text, out_type=int))

    def decode(self, ids) -> str:
        """Return the (normalized) text of subword ids.

        Args:
            ids: sequence of ids in [0, vocab_size).

        Returns:
            The text, lower-cased by the model's normalization.

        Raises:
            ValueError: if an id is out of range.

        """
        ids = [int(item) for item in ids]
        bad = [item for item in ids if not 0 <= item < self.vocab_size]
        if bad:
            raise ValueError(f'text ids must be in [0, {self.vocab_size}), got {bad}')
        return self._processor.decode(ids)

    def save(self, path) -> Path:
        """Write the model file, e.g. into a checkpoint directory.

        Args:
            path: destination ``.model`` file.

        Returns:
            The written path.

        """
        path = Path(path)
        path.write_bytes(self._processor.serialized_model_proto())
        return path


def main(argv=None) -> int:
    """Command line: train the instruction model (see the module docstring).

    Args:
        argv: arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status.

    """
    parser = argparse.ArgumentParser(description='Train the instruction SentencePiece model.')
    parser.add_argument('corpus', nargs='?', default=str(DEFAULT_CORPUS_PATH))
    parser.add_argument('out_prefix', nargs='?', default=str(DEFAULT_MODEL_PATH.with_suffix('')))
    parser.add_argument('--vocab-size', type=int, default=DEFAULT_VOCAB_SIZE)
    args = parser.parse_args(argv)
    path = train_text_tokenizer(args.corpus, args.out_prefix, args.vocab_size)
    print(f'wrote {path} ({TextTokenizer(path).vocab_size} pieces)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
