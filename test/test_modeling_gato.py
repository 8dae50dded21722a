"""Tests of gato_ros.modeling_gato: KV cache, padding, patch positions, loss, save/load."""

from gato_ros.configuration_gato import GatoConfig
from gato_ros.modeling_gato import collate_sequences, GatoModel, next_token_loss
from gato_ros.tokenizer import concatenate_sequences, tokenize_timestep
import numpy as np
import pytest
import torch

NUM_STEPS = 6
ACTION_DIM = 3


# Small models train and compare faster (and deterministically) on one thread.
pytestmark = pytest.mark.usefixtures('one_torch_thread')


def _model(**overrides):
    torch.manual_seed(0)
    overrides.setdefault('dropout', 0.0)
    return GatoModel(GatoConfig.from_preset('gato-test', **overrides)).eval()


def _step(rng, config, instruction_ids=None):
    observation = {'image': rng.integers(0, 256, (32, 48, 3), dtype=np.uint8),
                   'joints': rng.normal(size=4).astype(np.float32)}
    return tokenize_timestep(observation, rng.normal(size=ACTION_DIM).astype(np.float32),
                             instruction_ids, config=config.tokenizer_config)


def _episode_sequence(config, seed=0, num_steps=NUM_STEPS):
    rng = np.random.default_rng(seed)
    steps = [_step(rng, config, [5, 9, 2] if index == 0 else None)
             for index in range(num_steps)]
    return concatenate_sequences(steps)


def _slice(inputs, start, stop):
    """Keep tokens [start, stop) of a collated batch (every patch stays available)."""
    per_token = ('tokens', 'local_positions', 'patch_index')
    return {key: value[:, start:stop] if key in per_token else value
            for key, value in inputs.items()}


def test_kv_cache_matches_full_recomputation_over_an_episode():
    """Incremental decoding with the KV cache gives the full-sequence logits."""
    model = _model()
    sequence = _episode_sequence(model.config)
    inputs, _ = collate_sequences([sequence], model.config.tokenizer_config.pad_id)
    with torch.no_grad():
        full = model(**inputs).logits  # (1, L, V)
        # Feed like the policy does: a timestep's observation and separator in one chunk,
        # then one action token per forward pass.
        separator = model.config.tokenizer_config.separator_id
        ends = np.flatnonzero(sequence.is_action | (sequence.tokens == separator)) + 1
        cache, chunks, start = None, [], 0
        for end in ends:
            output = model(**_slice(inputs, start, end), cache=cache, use_cache=True)
            cache, start = output.cache, end
            chunks.append(output.logits)
    incremental = torch.cat(chunks, dim=1)
    assert len(chunks) == NUM_STEPS * (ACTION_DIM + 1)
    assert incremental.shape == full.shape
    assert cache.get_seq_length() == len(sequence)
    assert (incremental - full).abs().max().item() < 1e-4


def test_logits_to_keep_returns_the_last_positions():
    """logits_to_keep=1 returns the last position only, unchanged."""
    model = _model()
    inputs, _ = collate_sequences([_episode_sequence(model.config, num_steps=2)],
                                  model.config.tokenizer_config.pad_id)
    with torch.no_grad():
        full = model(**inputs).logits
        last = model(**inputs, logits_to_keep=1).logits
    assert last.shape == (1, 1, model.config.vocab_size)
    assert torch.allclose(last[0, -1], full[0, -1], atol=1e-5)


def test_right_padding_does_not_change_real_tokens():
    """A right-padded batch gives the same logits as the sequence alone."""
    model = _model()
    long_sequence = _episode_sequence(model.config, seed=1, num_steps=3)
    short_sequence = _episode_sequence(model.config, seed=2, num_steps=1)
    pad_id = model.config.tokenizer_config.pad_id
    batch, targets = collate_sequences([long_sequence, short_sequence], pad_id)
    alone, _ = collate_sequences([short_sequence], pad_id)
    with torch.no_grad():
        batched = model(**batch).logits[1, :len(short_sequence)]
        single = model(**alone).logits[0]
    assert (batched - single).abs().max().item() < 1e-5
    assert targets['loss_mask'][1, len(short_sequence):].sum() == 0
    assert batch['tokens'][1, -1] == pad_id


def test_context_overflow_raises():
    """More tokens than context_length are refused."""
    model = _model(context_length=40)
    inputs, _ = collate_sequences([_episode_sequence(model.config, num_steps=3)],
                                  model.config.tokenizer_config.pad_id)
    with pytest.raises(ValueError, match='exceed context_length 40'):
        model(**inputs)


def test_patch_tokens_without_patches_raise():
    """Patch tokens without their patches are refused."""
    model = _model()
    inputs, _ = collate_sequences([_episode_sequence(model.config, num_steps=1)],
                                  model.config.tokenizer_config.pad_id)
    inputs['patches'] = None
    with pytest.raises(ValueError, match='patches'):
        model(**inputs)


def test_patch_positions_random_in_training_and_mean_at_eval():
    """Patch positions are drawn inside the interval in training, its mean at eval."""
    model = _model()
    embedding = model.patch_embedding
    intervals = torch.tensor([[0, 32], [32, 64], [120, 128], [5, 6]] * 50)  # (200, 2)
    embedding.train()
    drawn = embedding._position(intervals)
    assert bool(((drawn >= intervals[:, 0]) & (drawn < intervals[:, 1])).all())
    assert len(set(drawn[0::4].tolist())) > 5  # really random inside [0, 32)
    embedding.eval()
    assert embedding._position(intervals[:4]).tolist() == [16, 48, 124, 5]


def test_dropout_and_random_positions_only_in_training():
    """Eval mode is deterministic; training mode is not."""
    model = _model(dropout=0.2)
    inputs, _ = collate_sequences([_episode_sequence(model.config, num_steps=2)],
                                  model.config.tokenizer_config.pad_id)
    with torch.no_grad():
        first, second = model(**inputs).logits, model(**inputs).logits
        assert torch.equal(first, second)
        model.train()
        assert not torch.equal(model(**inputs).logits, first)


def test_next_token_loss_counts_only_targets():
    """The loss averages the cross-entropy of masked-in next tokens only."""
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    tokens = torch.randint(0, 7, (2, 5))
    loss_mask = torch.tensor([[0, 0, 1, 1, 0], [0, 1, 0, 0, 0]], dtype=torch.float32)
    loss = next_token_loss(logits, tokens, loss_mask)
    expected = torch.stack([
        torch.nn.functional.cross_entropy(logits[row, col - 1:col], tokens[row, col:col + 1])
        for row, col in [(0, 2), (0, 3), (1, 1)]]).mean()
    assert torch.allclose(loss, expected)
    changed = logits.clone()
    changed[0, 3:] += 100.0  # positions predicting non-targets
    assert torch.allclose(next_token_loss(changed, tokens, loss_mask), expected)


def test_loss_decreases_with_a_few_optimizer_steps():
    """Gradients flow: a few AdamW steps overfit one sequence."""
    model = _model()
    model.train()
    inputs, targets = collate_sequences([_episode_sequence(model.config, num_steps=2)],
                                        model.config.tokenizer_config.pad_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = next_token_loss(model(**inputs).logits, inputs['tokens'], targets['loss_mask'])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_save_and_load_round_trip(tmp_path):
    """save_pretrained/from_pretrained restore identical logits."""
    model = _model()
    model.save_pretrained(tmp_path)
    assert (tmp_path / 'model.safetensors').is_file()
    assert (tmp_path / 'config.json').is_file()
    loaded = GatoModel.from_pretrained(tmp_path).eval()
    assert loaded.config.tokenizer == model.config.tokenizer
    inputs, _ = collate_sequences([_episode_sequence(model.config, num_steps=2)],
                                  model.config.tokenizer_config.pad_id)
    with torch.no_grad():
        assert torch.equal(loaded(**inputs).logits, model(**inputs).logits)


def test_output_head_is_the_token_table():
    """The output head reuses the token embedding (no separate head weights)."""
    model = _model()
    names = [name for name, _ in model.named_parameters()]
    assert not any('head' in name for name in names)
    assert model.get_input_embeddings() is model.token_embedding
