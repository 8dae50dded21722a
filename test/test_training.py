"""Tests of gato_ros.training: it learns two tasks, resumes exactly, checks its inputs."""

import json

from gato_ros.configuration_gato import GatoConfig
from gato_ros.data import ACTION_KEY, Episode, Normalizer
from gato_ros.policy import CHECKPOINT_FILES, GatoPolicy
from gato_ros.text_tokenizer import TextTokenizer
from gato_ros.training import (corrupt_action_inputs, cpu_has_native_bf16, learning_rate_at,
                               SequenceSampler, STATE_DIR, STATE_JSON_FILE, SUMMARY_FILE, train,
                               TrainConfig)
import numpy as np
import pytest
from safetensors.torch import load_file
from support.file_modes import assert_readable_by_all
import torch

LEVELS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0], np.float32)
TOLERANCE = 0.05


# Small models train and compare faster (and deterministically) on one thread.
pytestmark = pytest.mark.usefixtures('one_torch_thread')


def _mirror_episode(rng, steps=10):
    """Continuous task: the action is minus the observed joint positions."""
    joints = LEVELS[rng.integers(0, len(LEVELS), (steps, 2))]
    return Episode({'joints': joints}, -joints, 'mirror', instruction='mirror the joints',
                   success=True)


def _colour_episode(rng, steps=10):
    """Image task: discrete action 3 when the image is red, 7 when it is blue."""
    red = rng.random(steps) < 0.5
    images = np.zeros((steps, 32, 32, 3), np.int64)
    images[red, :, :, 0] = 200
    images[~red, :, :, 2] = 200
    images += rng.integers(0, 40, images.shape)  # noise, so no two images are equal
    actions = np.where(red, 3, 7)[:, None]
    return Episode({'image': images.astype(np.uint8)}, actions, 'colour', success=True)


def _episodes(seed, count=30):
    rng = np.random.default_rng(seed)
    return ([_mirror_episode(rng) for _ in range(count)]
            + [_colour_episode(rng) for _ in range(count)])


def _config(tmp_path, **overrides):
    fields = {'output_dir': str(tmp_path), 'preset': 'gato-test',
              'model_overrides': {'context_length': 64, 'dropout': 0.0}, 'batch_size': 8,
              'learning_rate': 3e-3, 'warmup_steps': 20, 'eval_every': 100,
              'progress': False}
    fields.update(overrides)
    return TrainConfig(**fields)


def _accuracy(checkpoint_dir, episodes):
    """Share of timesteps whose action is within TOLERANCE on every dimension, per task."""
    policy = GatoPolicy.from_pretrained(checkpoint_dir)
    correct = {}
    for episode in episodes:
        policy.reset(episode.task, instruction=episode.instruction)
        for step in range(len(episode)):
            action = policy.select_action(episode.observation(step))
            error = np.abs(action.astype(np.float64) - episode.actions[step])
            correct.setdefault(episode.task, []).append(bool(np.all(error < TOLERANCE)))
    return {task: float(np.mean(values)) for task, values in correct.items()}


def test_learns_a_continuous_and_an_image_task(tmp_path):
    """A few hundred CPU steps learn both tasks; the untrained model does not."""
    held_out = _episodes(seed=99, count=4)
    untrained = train(_episodes(seed=0), _config(tmp_path / 'untrained', max_steps=0))
    trained = train(_episodes(seed=0), _config(tmp_path / 'trained', max_steps=300))
    before, after = _accuracy(untrained, held_out), _accuracy(trained, held_out)
    assert before['mirror'] < 0.2 and before['colour'] < 0.7
    assert after['mirror'] >= 0.95 and after['colour'] >= 0.95, after
    summary = json.loads((trained / SUMMARY_FILE).read_text())
    assert summary['val_action_accuracy'] > 0.95
    assert summary['val_loss'] < 0.1 < summary['history'][0]['train_loss']
    assert summary['tokens_per_s'] > 0
    assert summary['num_val_episodes'] == 6  # 10% of each task's 30 episodes


@pytest.mark.usefixtures('readable_umask')
def test_checkpoint_directory_is_complete_and_pickle_free(tmp_path):
    """The output holds the policy files and a safetensors/JSON training state, all readable."""
    out = train(_episodes(seed=1, count=3), _config(tmp_path, max_steps=2))
    assert_readable_by_all(out)
    names = {path.name for path in out.iterdir()}
    assert set(CHECKPOINT_FILES) | {STATE_DIR, SUMMARY_FILE} == names
    for path in (out / STATE_DIR).iterdir():
        assert path.suffix in ('.json', '.safetensors')
    state = load_file(out / STATE_DIR / 'optimizer.safetensors')
    assert 'torch_rng_state' in state and any(key.endswith('exp_avg') for key in state)


def _weights(directory):
    # Copies: the loaded tensors map the file, which a resumed run rewrites.
    return {name: value.clone() for name, value in
            load_file(directory / 'model.safetensors').items()}


def test_resume_continues_from_the_saved_step(tmp_path):
    """Resuming at step 6 ends with the same weights as 10 uninterrupted steps.

    Action input noise is on: its draws continue from the saved data generator too. The
    resumed run names another preset: the saved run's model settings win.
    """
    episodes = _episodes(seed=2, count=4)
    schedule = {'max_steps': 10, 'lr_decay_steps': 10, 'warmup_steps': 3, 'batch_size': 4,
                'action_input_noise_bins': 20.0}
    straight = train(episodes, _config(tmp_path / 'straight', **schedule))
    train(episodes, _config(tmp_path / 'resumed', **{**schedule, 'max_steps': 6}))
    meta = json.loads((tmp_path / 'resumed' / STATE_DIR / STATE_JSON_FILE).read_text())
    assert meta['step'] == 6
    resumed = train(episodes, _config(tmp_path / 'resumed', resume=True, preset='gato-2m',
                                      **schedule))
    summary = json.loads((resumed / SUMMARY_FILE).read_text())
    assert summary['start_step'] == 6 and summary['steps'] == 10
    assert [item['step'] for item in summary['history']] == list(range(1, 11))
    expected = _weights(straight)
    for name, value in _weights(resumed).items():
        assert torch.allclose(value, expected[name], atol=1e-6), name


def test_weight_average_is_what_the_checkpoint_holds(tmp_path):
    """With ema_decay 0.75 the checkpoint after two steps is 0.75 * step 1 + 0.25 * step 2.

    The weights of each step come from runs without averaging on the same seed and batches.
    Resumed at step 2, the averaged run goes on training the weights, not their average,
    and ends where an uninterrupted one does.
    """
    episodes = _episodes(seed=6, count=4)
    schedule = {'lr_decay_steps': 3, 'warmup_steps': 0, 'batch_size': 4}
    first, second = (_weights(train(episodes, _config(tmp_path / f'plain{steps}',
                                                      max_steps=steps, **schedule)))
                     for steps in (1, 2))
    averaged = _weights(train(episodes, _config(tmp_path / 'ema', max_steps=2,
                                                ema_decay=0.75, **schedule)))
    for name, value in averaged.items():
        assert torch.allclose(value, 0.75 * first[name] + 0.25 * second[name], atol=1e-6)
        assert not torch.allclose(value, second[name], atol=1e-6), name
    straight = train(episodes, _config(tmp_path / 'straight', max_steps=3, ema_decay=0.75,
                                       **schedule))
    resumed = train(episodes, _config(tmp_path / 'ema', max_steps=3, ema_decay=0.75,
                                      resume=True, **schedule))
    expected = _weights(straight)
    for name, value in _weights(resumed).items():
        assert torch.allclose(value, expected[name], atol=1e-6), name
    with pytest.raises(ValueError, match='ema_decay 0.5'):
        train(episodes, _config(tmp_path / 'ema', max_steps=4, ema_decay=0.5, resume=True,
                                **schedule))


def test_resume_with_other_episodes_or_model_raises(tmp_path):
    """Resuming with other episodes or another model is refused."""
    train(_episodes(seed=3, count=2), _config(tmp_path, max_steps=1))
    with pytest.raises(ValueError, match='episodes differ'):
        train(_episodes(seed=4, count=2), _config(tmp_path, max_steps=2, resume=True))
    bigger = {'context_length': 128, 'dropout': 0.0}
    with pytest.raises(ValueError, match='cannot resume'):
        train(_episodes(seed=3, count=2),
              _config(tmp_path, max_steps=2, resume=True, model_overrides=bigger))


def test_resume_with_other_training_options_raises(tmp_path):
    """A resume that would draw other batches or validate otherwise is refused, saying why.

    The schedule may change: a resume with another peak learning rate goes on.
    """
    episodes = _episodes(seed=3, count=2)
    train(episodes, _config(tmp_path, max_steps=1, prompt_probability=0.0))
    meta = json.loads((tmp_path / STATE_DIR / STATE_JSON_FILE).read_text())
    assert meta['options']['prompt_probability'] == 0.0
    with pytest.raises(ValueError, match=r'prompt_probability 0.25 \(saved: 0.0\)'):
        train(episodes, _config(tmp_path, max_steps=2, resume=True))
    with pytest.raises(ValueError, match=r'batch_size 4 \(saved: 8\)'):
        train(episodes, _config(tmp_path, max_steps=2, resume=True, prompt_probability=0.0,
                                batch_size=4))
    train(episodes, _config(tmp_path, max_steps=2, resume=True, prompt_probability=0.0,
                            learning_rate=1e-3))
    assert json.loads((tmp_path / SUMMARY_FILE).read_text())['start_step'] == 1


def test_bf16_on_a_cpu_without_it_is_warned_about(tmp_path, monkeypatch):
    """Emulated bf16 autocast is about 10x slower than float32: train says so."""
    avx2_only = {'architecture': 'x86_64', 'avx2': True, 'avx512_bf16': False}
    assert not cpu_has_native_bf16(avx2_only)
    assert cpu_has_native_bf16({**avx2_only, 'avx512_bf16': True})
    assert cpu_has_native_bf16({**avx2_only, 'amx_bf16': True})
    monkeypatch.setattr(torch.cpu, 'get_capabilities', lambda: avx2_only)
    with pytest.warns(UserWarning, match='bf16 autocast on a CPU without AVX512-BF16'):
        train(_episodes(seed=5, count=2), _config(tmp_path, max_steps=0, mixed_precision='bf16'))


def test_fine_tuning_starts_from_the_checkpoint_and_keeps_its_statistics(tmp_path):
    """init_checkpoint: the trained skill is there from step one, tokens keep their meaning."""
    mirror = [episode for episode in _episodes(seed=7) if episode.task == 'mirror']
    base = train(mirror, _config(tmp_path / 'base', max_steps=200))
    # New demonstrations with other statistics: a refit normalizer would change the tokens.
    shifted = [Episode(e.observations, e.actions * 0.5, 'mirror', e.instruction, e.success)
               for e in mirror[:10]]
    tiny_step = {'max_steps': 1, 'learning_rate': 1e-7, 'warmup_steps': 0}
    tuned = train(shifted, _config(tmp_path / 'tuned', init_checkpoint=str(base),
                                   model_overrides={'max_window_timesteps': 2}, **tiny_step))
    fresh = train(shifted, _config(tmp_path / 'fresh', **tiny_step))
    held_out = [e for e in _episodes(seed=98, count=4) if e.task == 'mirror']
    # 200 steps give 0.9-1.0 over training seeds; tuning by one tiny step keeps that.
    base_accuracy = _accuracy(base, held_out)['mirror']
    assert base_accuracy >= 0.9
    assert _accuracy(tuned, held_out)['mirror'] >= base_accuracy - 0.05
    assert _accuracy(fresh, held_out)['mirror'] < 0.2
    tuned_spec = json.loads((tuned / 'gato_spec.json').read_text())
    assert tuned_spec['normalizer'] == json.loads((base / 'gato_spec.json').read_text())[
        'normalizer']
    assert GatoPolicy.from_pretrained(tuned).model.config.max_window_timesteps == 2


def test_fine_tuning_fits_statistics_only_for_tasks_the_checkpoint_lacks(tmp_path):
    """A task new to the checkpoint gets statistics from the data; its own tasks keep theirs."""
    mirror = [episode for episode in _episodes(seed=7) if episode.task == 'mirror']
    base = train(mirror, _config(tmp_path / 'base', max_steps=1))
    both = [Episode(e.observations, e.actions * 0.5, e.task, e.instruction, e.success)
            for e in _episodes(seed=8)]
    tuned = train(both, _config(tmp_path / 'tuned', init_checkpoint=str(base), max_steps=1,
                                val_fraction=0.0))
    base_stats, tuned_stats = (json.loads((out / 'gato_spec.json').read_text())[
        'normalizer']['stats'] for out in (base, tuned))
    assert tuned_stats['mirror'] == base_stats['mirror']
    colour = [e for e in both if e.task == 'colour']
    expected = Normalizer.fit(colour).stats['colour']
    assert tuned_stats['colour'] == expected


def test_fine_tuning_lets_a_task_gain_a_camera_and_nothing_else(tmp_path):
    """A task of the checkpoint may gain an image (a new camera); other changes are refused."""
    mirror = [episode for episode in _episodes(seed=7, count=4) if episode.task == 'mirror']
    base = train(mirror, _config(tmp_path / 'base', max_steps=1))
    rng = np.random.default_rng(3)

    def changed(observations):
        return [Episode(observations(e), e.actions, 'mirror', e.instruction, e.success)
                for e in mirror]

    with_camera = changed(lambda e: {**e.observations, 'image_wrist': rng.integers(
        0, 255, (len(e), 32, 32, 3), dtype=np.uint8)})
    tuned = train(with_camera, _config(tmp_path / 'tuned', init_checkpoint=str(base),
                                       max_steps=1, val_fraction=0.0))
    base_spec, tuned_spec = (json.loads((out / 'gato_spec.json').read_text())
                             for out in (base, tuned))
    assert tuned_spec['normalizer'] == base_spec['normalizer']
    assert sorted(tuned_spec['tasks']['mirror']['observations']) == ['image_wrist', 'joints']
    wider = changed(lambda e: {'joints': np.concatenate([e.observations['joints']] * 2, 1)})
    extra = changed(lambda e: {**e.observations, 'speed': e.observations['joints']})
    without = changed(lambda e: {'image': rng.integers(0, 255, (len(e), 32, 32, 3),
                                                       dtype=np.uint8)})
    for episodes in (wider, extra, without):
        with pytest.raises(ValueError, match=r"tasks \['mirror'\] differ from its own"):
            train(episodes, _config(tmp_path / 'refused', init_checkpoint=str(base),
                                    max_steps=1, val_fraction=0.0))


def test_weights_only_initialization_refits_statistics_on_the_new_data(tmp_path):
    """init_weights_only: the skill carries over to data with other statistics and tasks."""
    mirror = [episode for episode in _episodes(seed=7) if episode.task == 'mirror']
    base = train(mirror, _config(tmp_path / 'base', max_steps=200))
    # The same episodes with half-size actions: standardized afresh they are the same tokens,
    # so the trained weights act right from the first step.
    halved = [Episode(e.observations, e.actions * 0.5, 'mirror', e.instruction, e.success)
              for e in mirror]
    tiny_step = {'max_steps': 1, 'learning_rate': 1e-7, 'warmup_steps': 0}
    weights_only = train(halved, _config(tmp_path / 'weights', init_checkpoint=str(base),
                                         init_weights_only=True, **tiny_step))
    with_statistics = train(halved, _config(tmp_path / 'stats', init_checkpoint=str(base),
                                            **tiny_step))
    held_out = [e for e in _episodes(seed=98, count=4) if e.task == 'mirror']
    base_accuracy = _accuracy(base, held_out)['mirror']
    held_out = [Episode(e.observations, e.actions * 0.5, 'mirror', e.instruction, e.success)
                for e in held_out]
    assert base_accuracy >= 0.9
    assert _accuracy(weights_only, held_out)['mirror'] >= base_accuracy - 0.05
    assert _accuracy(with_statistics, held_out)['mirror'] < 0.5
    base_std, refit_std = (np.array(json.loads((out / 'gato_spec.json').read_text())[
        'normalizer']['stats']['mirror'][ACTION_KEY]['std']) for out in (base, weights_only))
    assert refit_std == pytest.approx(0.5 * base_std)
    # Another task and action kind: no statistics of the base are needed.
    colour = train([e for e in _episodes(seed=8, count=4) if e.task == 'colour'],
                   _config(tmp_path / 'colour', init_checkpoint=str(base),
                           init_weights_only=True, **tiny_step))
    assert list(json.loads((colour / 'gato_spec.json').read_text())['tasks']) == ['colour']
    with pytest.raises(ValueError, match='needs an init_checkpoint'):
        _config(tmp_path / 'none', init_weights_only=True)


def test_scenes_and_demonstrations_of_one_arm_train_together(tmp_path):
    """Co-training: '<arm>/locate/<task>' labels get their own statistics.

    The instruction tells the model which answer (motion or location) a sequence asks for.
    """
    rng = np.random.default_rng(11)
    mirror, locate = [], []
    for _ in range(30):
        joints = LEVELS[rng.integers(0, len(LEVELS), (10, 2))]
        mirror.append(Episode({'joints': joints}, -joints, 'arm/mirror',
                              instruction='mirror the joints', success=True))
        label = np.concatenate([joints, np.full((10, 1), 3.0, np.float32)], axis=1)
        locate.append(Episode({'joints': joints}, label, 'arm/locate/mirror',
                              instruction='locate: mirror the joints', success=True))
    out = train(mirror + locate, _config(tmp_path, max_steps=600, normalize_by='embodiment'))
    spec = json.loads((out / 'gato_spec.json').read_text())
    assert sorted(spec['normalizer']['stats']) == ['arm', 'arm/locate']
    accuracy = _accuracy(out, mirror[:3] + locate[:3])
    assert accuracy['arm/mirror'] >= 0.95 and accuracy['arm/locate/mirror'] >= 0.95, accuracy


def test_runs_twice_in_one_process_with_other_precision(tmp_path):
    """A second run may change Accelerate settings; the summary records processes, precision."""
    episodes = _episodes(seed=6, count=2)
    first = train(episodes, _config(tmp_path / 'fp32', max_steps=2))
    second = train(episodes, _config(tmp_path / 'bf16', max_steps=2, device='auto',
                                     mixed_precision='bf16'))
    for out, precision in ((first, 'no'), (second, 'bf16')):
        summary = json.loads((out / SUMMARY_FILE).read_text())
        assert summary['num_processes'] == 1 and summary['mixed_precision'] == precision
        assert summary['steps'] == 2 and np.isfinite(summary['final_train_loss'])
    # A single process saves one row of torch RNG state and one numpy generator state.
    meta = json.loads((second / STATE_DIR / STATE_JSON_FILE).read_text())
    assert len(meta['numpy_rng_states']) == 1
    assert load_file(second / STATE_DIR / 'optimizer.safetensors')['torch_rng_state'].shape[0] == 1


def _sampler(episodes, prompt_probability, **overrides):
    config = GatoConfig.from_preset('gato-test', context_length=256, **overrides)
    # 12 prompt tokens hold 2 timesteps of either task (5 and 6 tokens a timestep).
    return SequenceSampler(episodes, Normalizer.fit(episodes), config, TextTokenizer(),
                           prompt_probability, prompt_max_tokens=12)


def test_window_limit_samples_one_timestep_plus_an_optional_prompt():
    """With max_window_timesteps=1 a sequence holds one step of its episode (and a prompt)."""
    episodes = _episodes(3, count=4)
    rng = np.random.default_rng(0)
    markovian = _sampler(episodes, 0.0, max_window_timesteps=1)
    assert all(len(np.unique(markovian.sample(rng).timesteps)) == 1 for _ in range(20))
    unlimited = _sampler(episodes, 0.0)
    assert min(len(np.unique(unlimited.sample(rng).timesteps)) for _ in range(20)) > 1
    prompted = _sampler(episodes, 1.0, max_window_timesteps=1)
    counts = {len(np.unique(prompted.sample(rng, prompted=True).timesteps)) for _ in range(20)}
    assert counts == {3}


def test_batches_are_prompted_as_a_whole_at_the_prompt_probability():
    """Every sequence of a batch has a prompt or none does; about half the batches at 0.5."""
    sampler = _sampler(_episodes(3, count=4), 0.5, max_window_timesteps=1)
    rng = np.random.default_rng(1)
    batches = [sampler.sample_batch(rng, 8) for _ in range(200)]
    assert all(len(batch) == 8 for batch in batches)
    # One timestep alone, or with a prompt of two timesteps.
    kinds = [{len(np.unique(s.timesteps)) for s in batch} for batch in batches]
    assert all(kind in ({1}, {3}) for kind in kinds)
    assert 80 <= sum(kind == {3} for kind in kinds) <= 120
    never = _sampler(_episodes(3, count=4), 0.0, max_window_timesteps=1)
    assert {len(np.unique(s.timesteps)) for s in never.sample_batch(rng, 64)} == {1}


def test_action_input_noise_moves_only_continuous_action_ids_within_their_range():
    """Noise shifts continuous action inputs, never other tokens nor past the range ends."""
    config = GatoConfig.from_preset('gato-test').tokenizer_config
    low, high = config.continuous_offset, config.continuous_offset + config.num_bins
    tokens = torch.tensor([[5, low, low + 500, high - 1, 7, low + 3]])
    is_action = torch.tensor([[False, True, True, True, True, False]])
    rng = np.random.default_rng(0)
    moved = [corrupt_action_inputs(tokens, is_action, 40.0, rng, config) for _ in range(50)]
    moved = torch.stack(moved)[:, 0]  # (draws, L)
    assert torch.all(moved[:, [0, 4, 5]] == tokens[0, [0, 4, 5]])  # text, discrete, obs
    assert torch.all((moved[:, 1:4] >= low) & (moved[:, 1:4] < high))
    assert 20 < moved[:, 2].double().std() < 60
    assert torch.equal(corrupt_action_inputs(tokens, is_action, 0.0, rng, config), tokens)


def test_learning_rate_warmup_and_cosine():
    """The learning rate warms up linearly, then decays by a cosine to the floor."""
    config = TrainConfig(learning_rate=1e-3, warmup_steps=10, max_steps=110,
                         min_learning_rate_ratio=0.1)
    rates = [learning_rate_at(step, config) for step in range(110)]
    assert rates[0] == pytest.approx(1e-4)
    assert rates[9] == pytest.approx(1e-3)
    assert all(later <= earlier for earlier, later in zip(rates[9:], rates[10:]))
    assert rates[60] == pytest.approx(0.5 * (1e-3 + 1e-4))
    assert learning_rate_at(110, config) == pytest.approx(1e-4)


def test_bad_inputs_raise(tmp_path):
    """Bad episodes and settings raise a ValueError naming the problem."""
    with pytest.raises(ValueError, match='non-empty list'):
        train([], _config(tmp_path))
    rng = np.random.default_rng(5)
    other = Episode({'joints': np.zeros((3, 4), np.float32)}, np.zeros((3, 2), np.float32),
                    'mirror')
    with pytest.raises(ValueError, match="task 'mirror' disagree"):
        train([_mirror_episode(rng), other], _config(tmp_path))
    wide = Episode({'joints': np.zeros((2, 70), np.float32)}, np.zeros((2, 2), np.float32),
                   'wide')
    with pytest.raises(ValueError, match='more than context_length 64'):
        train([wide], _config(tmp_path))
    with pytest.raises(ValueError, match='batch_size'):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match='prompt_probability'):
        TrainConfig(prompt_probability=1.5)
    with pytest.raises(ValueError, match='mixed_precision'):
        TrainConfig(mixed_precision='fp8')
    with pytest.raises(ValueError, match='without an index'):
        TrainConfig(device='cuda:1')
    with pytest.raises(ValueError, match='ema_decay'):
        TrainConfig(ema_decay=1.0)
