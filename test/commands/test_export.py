"""``gato-ros export``: a deployable copy in the asked dtype, without training state."""

import json

from gato_ros.cli import main
from gato_ros.configuration_gato import GatoConfig
from gato_ros.data import Episode, Normalizer
from gato_ros.modeling_gato import GatoModel
from gato_ros.policy import Checkpoint, CHECKPOINT_FILES, GatoPolicy, WEIGHTS_FILE
from gato_ros.text_tokenizer import TextTokenizer
from gato_ros.training import STATE_DIR, SUMMARY_FILE
import numpy as np
import pytest
from safetensors.torch import load_file
from support.file_modes import assert_readable_by_all
import torch


@pytest.fixture
def trained_dir(tmp_path):
    """Write a checkpoint as ``train`` leaves it: policy files, summary, plot, state."""
    episode = Episode({'joints': np.zeros((3, 2), np.float32)}, np.zeros((3, 2), np.float32),
                      'reach', success=True)
    torch.manual_seed(0)
    model = GatoModel(GatoConfig.from_preset('gato-test', context_length=64))
    directory = Checkpoint(model, {'reach': episode.spec()}, Normalizer.fit([episode]),
                           TextTokenizer()).save(tmp_path / 'run')
    (directory / SUMMARY_FILE).write_text(json.dumps({'val_loss': 1.5}))
    (directory / 'loss.png').write_bytes(b'\x89PNG')
    (directory / STATE_DIR).mkdir()
    (directory / STATE_DIR / 'optimizer.safetensors').write_bytes(b'')
    return directory


@pytest.mark.usefixtures('readable_umask')
def test_bfloat16_export_keeps_the_policy_and_drops_the_training_state(trained_dir, tmp_path,
                                                                       capsys):
    """Weights are stored rounded to bfloat16 and load into the float32 model."""
    out = tmp_path / 'deploy'
    assert main(['export', '--checkpoint', str(trained_dir), '--out', str(out),
                 '--dtype', 'bfloat16']) == 0
    assert f'wrote {out}' in capsys.readouterr().out
    names = {path.name for path in out.iterdir()}
    assert names == set(CHECKPOINT_FILES) | {SUMMARY_FILE, 'loss.png'}
    assert (out / SUMMARY_FILE).read_text() == (trained_dir / SUMMARY_FILE).read_text()
    stored, original = load_file(out / WEIGHTS_FILE), load_file(trained_dir / WEIGHTS_FILE)
    assert {value.dtype for value in stored.values()} == {torch.bfloat16}
    loaded = GatoPolicy.from_pretrained(out).model.state_dict()
    for name, value in original.items():
        assert loaded[name].dtype == torch.float32
        assert torch.equal(loaded[name], value.to(torch.bfloat16).float()), name
    assert_readable_by_all(out)


def test_a_missing_checkpoint_exits_2_with_a_message(tmp_path, capsys):
    """Nothing is written when the source cannot be loaded."""
    assert main(['export', '--checkpoint', str(tmp_path / 'none'),
                 '--out', str(tmp_path / 'out')]) == 2
    assert 'error: ' in capsys.readouterr().out
    assert not (tmp_path / 'out').exists()
