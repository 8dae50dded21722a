"""``gato-ros train``: train (or resume) a Gato checkpoint on episode folders.

Example (the demo checkpoint's full command is in README and docs/training.md)::

    python -m gato_ros train --data data/panda data/ur5e --preset gato-2m \
        --out runs/gen2m --steps 3200 --mixed-precision bf16

Episode folders come from ``gato-ros collect`` (simulated experts) or ``gato-ros convert``
(rosbag2 recordings); tasks and arms may be mixed. Writes the checkpoint, a run summary
(``train_summary.json``) and a loss-curve plot (``loss.png``) into ``--out``.

Fine-tuning: ``--init-from CKPT`` starts from a trained checkpoint (its weights, settings,
statistics and instruction tokenizer; tasks it has no statistics for get theirs fitted on
``--data``), e.g. on a lab's own recordings, on DAgger rounds from
``gato-ros collect --policy-checkpoint``, with new localization labels, or with a camera its
tasks did not have (``collect --wrist-camera``).
``--init-weights-from CKPT`` takes only the weights (and settings), fitting statistics on
``--data``: BC after the object-localization pretraining of ``gato-ros collect
--localization`` (docs/training.md, "Vision curriculum").

Scaling out: the same command, started by Hugging Face Accelerate's launcher, trains
data-parallel with one process per GPU (``--device auto``, the default, lets each process
take its own GPU)::

    accelerate launch --num_processes 4 -m gato_ros train --data data/panda \
        --out checkpoints/big --steps 3000 --mixed-precision bf16

Several nodes: run ``accelerate launch`` on each with ``--num_machines``,
``--machine_rank``, ``--main_process_ip`` and ``--main_process_port``; ``torchrun
--nproc_per_node 4 -m gato_ros train ...`` works too. Every process samples its own batches
(seed ``--seed`` + process index), so one optimizer step sees ``--batch-size`` x
``--grad-accum`` x processes sequences; the learning rate is not rescaled. ``--out`` must be
on a filesystem all nodes share to ``--resume``; only the main process writes files and
prints. On a machine without GPUs, ``torchrun --nproc_per_node 2 -m gato_ros train --device
cpu ...`` tries it out (gloo backend).
"""

from dataclasses import asdict
import json
from pathlib import Path

from accelerate import PartialState
from gato_ros.configuration_gato import list_presets
from gato_ros.data import NORMALIZER_GROUPS
from gato_ros.recording.dataset import load_dataset
from gato_ros.training import (MIXED_PRECISIONS, saved_options, SUMMARY_FILE, train,
                               TrainConfig)


def _kept_help(text, default):
    return f"{text} (default: {default}; with --resume: the saved run's)"


def add_arguments(parser):
    """Declare the command's options.

    Args:
        parser: the ``argparse.ArgumentParser`` of this command.
    """
    defaults = TrainConfig()
    parser.add_argument('--data', nargs='+', required=True, metavar='DIR',
                        help='episode folders (collect or convert output)')
    parser.add_argument('--preset', choices=list_presets(), default=defaults.preset)
    parser.add_argument('--out', required=True, metavar='DIR', help='checkpoint folder')
    parser.add_argument('--steps', type=int, default=defaults.max_steps,
                        help='optimizer steps to reach (a resumed run counts its old steps)')
    # Options a resumed run takes from the saved one are None when not given (kept_options).
    parser.add_argument('--batch-size', type=int,
                        help=_kept_help('sequences per micro-batch', defaults.batch_size))
    parser.add_argument('--grad-accum', type=int,
                        help=_kept_help('micro-batches per optimizer step',
                                        defaults.grad_accum_steps))
    parser.add_argument('--lr', type=float,
                        help=_kept_help('peak learning rate (warmup then cosine decay)',
                                        defaults.learning_rate))
    parser.add_argument('--warmup-steps', type=int,
                        help=_kept_help('steps of linear warmup', defaults.warmup_steps))
    parser.add_argument('--context', type=int, default=None,
                        help="context length in tokens (default: the preset's)")
    parser.add_argument('--window-timesteps', type=int, default=None,
                        help='most timesteps of an episode in one sequence (training and '
                        'deployment; 1: Markovian policy, prompt on top); default: as many '
                        'as the context holds')
    parser.add_argument('--prompt-probability', type=float,
                        help=_kept_help('share of sequences with a prepended demonstration '
                                        'of their task (drawn per batch; 0: no prompting; '
                                        'prompted batches are longer)',
                                        defaults.prompt_probability))
    parser.add_argument('--eval-every', type=int,
                        help=_kept_help('validate every n steps', defaults.eval_every))
    parser.add_argument('--save-every', type=int,
                        help=_kept_help('save every n steps', defaults.save_every))
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--device', default='auto',
                        help="'auto' (a launcher's GPU per process, else a GPU, else the "
                             "CPU), 'cpu', or a device type such as 'cuda'")
    parser.add_argument('--mixed-precision', choices=MIXED_PRECISIONS,
                        help=_kept_help('autocast precision of the forward pass',
                                        defaults.mixed_precision))
    parser.add_argument('--normalize-by', choices=NORMALIZER_GROUPS,
                        help=_kept_help('share standardization statistics per arm '
                                        '(embodiment: new tasks of a known arm can be '
                                        'prompted) or per task', defaults.normalize_by))
    parser.add_argument('--action-input-noise', type=float, metavar='BINS',
                        help=_kept_help('std in bins of noise on the action ids the model '
                                        'reads (targets stay clean): against copying the '
                                        'previous action; 0: off',
                                        defaults.action_input_noise_bins))
    parser.add_argument('--ema-decay', type=float, metavar='DECAY',
                        help=_kept_help('save and validate an exponential moving average of '
                                        'the weights with this decay per step; 0: off',
                                        defaults.ema_decay))
    parser.add_argument('--exclude-tasks', nargs='+', default=[], metavar='TASK',
                        help="hold tasks out: full names ('panda/press_button') or a task of "
                        "every arm ('press_button', its localization scenes too)")
    init = parser.add_mutually_exclusive_group()
    init.add_argument('--init-from', default=None, metavar='CKPT',
                      help="fine-tune: start from this checkpoint's weights, settings, "
                      'statistics and instruction tokenizer; new tasks get statistics '
                      'fitted on --data, its tasks may gain cameras (--preset and '
                      '--normalize-by unused)')
    init.add_argument('--init-weights-from', default=None, metavar='CKPT',
                      help="start from this checkpoint's weights, settings and instruction "
                      'tokenizer, with statistics fitted on --data (--preset unused): after '
                      'collect --localization pretraining')
    parser.add_argument('--seed', type=int,
                        help=_kept_help('seed of sampling and initialization', defaults.seed))
    parser.add_argument('--resume', action='store_true',
                        help='continue from the training state in --out, with its model '
                        "settings, instruction tokenizer and the options marked 'with "
                        "--resume' (--preset unused; the data options, such as --batch-size "
                        'and --prompt-probability, may not change)')


def model_overrides(args):
    """Return the GatoConfig fields the options change from the preset.

    Args:
        args: the parsed options.

    Returns:
        dict: field -> value.
    """
    overrides = {'context_length': args.context, 'max_window_timesteps': args.window_timesteps}
    return {name: value for name, value in overrides.items() if value is not None}


# CLI option -> TrainConfig field, of the options a resumed run takes from the saved one when
# they are not given: what it trains on (the core refuses changes to those,
# gato_ros.training.RESUMED_OPTIONS), its schedule and precision. --steps, --threads and
# --device are given for each run.
KEPT_OPTIONS = {'batch_size': 'batch_size', 'grad_accum': 'grad_accum_steps',
                'lr': 'learning_rate', 'warmup_steps': 'warmup_steps',
                'prompt_probability': 'prompt_probability', 'eval_every': 'eval_every',
                'save_every': 'save_every', 'mixed_precision': 'mixed_precision',
                'normalize_by': 'normalize_by', 'action_input_noise': 'action_input_noise_bins',
                'ema_decay': 'ema_decay', 'seed': 'seed'}


def kept_options(args):
    """Return the TrainConfig fields of the options a resumed run takes from the saved one.

    An option not given takes the saved run's value when resuming, else TrainConfig's.

    Args:
        args: the parsed options.

    Returns:
        dict: field -> value, the initial checkpoint included.
    """
    fallback = asdict(TrainConfig())
    fallback.update((args.resume and saved_options(args.out)) or {})
    fields = {name: fallback[name] if getattr(args, option) is None else getattr(args, option)
              for option, name in KEPT_OPTIONS.items()}
    given_init = args.init_from or args.init_weights_from
    fields['init_checkpoint'] = given_init or fallback['init_checkpoint']
    fields['init_weights_only'] = (args.init_weights_from is not None if given_init
                                   else fallback['init_weights_only'])
    return fields


def train_config(args):
    """Return the training settings the options ask for.

    Args:
        args: the parsed options.

    Returns:
        TrainConfig: the settings.

    Raises:
        ValueError: when a setting is out of range (TrainConfig checks them).
    """
    return TrainConfig(
        output_dir=args.out, preset=args.preset, max_steps=args.steps,
        model_overrides=model_overrides(args), num_threads=args.threads, resume=args.resume,
        device=args.device, **kept_options(args))


def exclude_tasks(episodes, excluded):
    """Drop the episodes of held-out tasks.

    Args:
        episodes: the loaded episodes.
        excluded: task names, either full (``'panda/press_button'``) or the last part
            (``'press_button'``: that task on every arm, its localization scenes
            ``'<arm>/locate/press_button'`` too).

    Returns:
        list: the remaining episodes.

    Raises:
        ValueError: when a name matches no episode (a typo would silently train on all).
    """
    def matches(task, name):
        return task == name or task.rsplit('/', 1)[-1] == name

    unmatched = [name for name in excluded if not any(matches(e.task, name) for e in episodes)]
    if unmatched:
        raise ValueError(f'--exclude-tasks {unmatched} match no episode; tasks: '
                         f'{sorted({e.task for e in episodes})}')
    return [e for e in episodes if not any(matches(e.task, name) for name in excluded)]


def plot_losses(history, path):
    """Plot training and validation loss against the step.

    Args:
        history: the run summary's ``history`` (dicts with step, train_loss, val_loss).
        path: destination PNG.
    """
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 3.5))
    axes.plot([h['step'] for h in history], [h['train_loss'] for h in history],
              label='train', linewidth=0.8)
    val = [h for h in history if 'val_loss' in h]
    axes.plot([h['step'] for h in val], [h['val_loss'] for h in val], 'o-', label='validation')
    axes.set_xlabel('step')
    axes.set_ylabel('masked next-token loss')
    axes.set_yscale('log')
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def run(args):
    """Load the episodes, train, then write the loss plot and print the summary.

    Args:
        args: the parsed options.

    Returns:
        int: 0 on success, 2 when the data cannot be used (the reason is printed).
    """
    try:
        episodes = exclude_tasks(load_dataset(args.data), args.exclude_tasks)
        out = train(episodes, train_config(args))
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}')
        return 2
    if not PartialState().is_main_process:
        return 0
    summary = json.loads((Path(out) / SUMMARY_FILE).read_text())
    plot_losses(summary['history'], Path(out) / 'loss.png')
    keys = ('steps', 'elapsed_s', 'tokens_per_s', 'final_train_loss', 'val_loss',
            'val_action_accuracy', 'num_parameters', 'num_train_episodes', 'tasks')
    print(json.dumps({key: summary[key] for key in keys}, indent=1))
    return 0
