"""``gato-ros bench``: inference latency, KV-cache speedup, prefill and memory of presets.

Examples::

    python -m gato_ros bench                                   # gato-5m, gato-20m on CPU
    python -m gato_ros bench --presets gato-79m --threads 2 --json runs/bench.json
    python -m gato_ros bench --presets gato-79m gato-364m gato-1.18b --device cuda --train

Presets are built with random weights (speed and memory do not depend on training). What is
measured is described in :mod:`gato_ros.benchmark` and docs/benchmarks.md.
"""

from gato_ros.benchmark import BenchConfig, format_report, run_benchmark, write_report
from gato_ros.configuration_gato import list_presets


def add_arguments(parser):
    """Declare the command's options.

    Args:
        parser: the ``argparse.ArgumentParser`` of this command.
    """
    defaults = BenchConfig()
    parser.add_argument('--presets', nargs='+', choices=list_presets(),
                        default=list(defaults.presets), metavar='PRESET',
                        help=f'presets to measure, of {list_presets()}')
    parser.add_argument('--device', default=defaults.device,
                        help="torch device: 'cpu' or 'cuda' (if available)")
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--steps', type=int, default=defaults.steps,
                        help='timed control steps per preset')
    parser.add_argument('--warmup-steps', type=int, default=None,
                        help='untimed control steps first (default: until the first window '
                        'rebuild)')
    parser.add_argument('--repeats', type=int, default=defaults.decode_repeats,
                        help='timed repeats of the cached/recomputed decoding and the prefill')
    parser.add_argument('--context', type=int, default=None,
                        help="context length in tokens (default: the preset's)")
    parser.add_argument('--train', action='store_true',
                        help='also measure training throughput (forward + backward)')
    parser.add_argument('--train-batch-size', type=int, default=defaults.train_batch_size,
                        help='full-context sequences per training batch')
    parser.add_argument('--seed', type=int, default=defaults.seed)
    parser.add_argument('--json', default=None, metavar='PATH',
                        help='also write the report as JSON to PATH')


def run(args):
    """Measure the presets, print the table and optionally write the JSON report.

    Args:
        args: the parsed options.

    Returns:
        int: 0 on success, 2 on an invalid option or a context too short for the task
        (the reason is printed).
    """
    try:
        config = BenchConfig(
            presets=tuple(args.presets), device=args.device, threads=args.threads,
            steps=args.steps, warmup_steps=args.warmup_steps, decode_repeats=args.repeats,
            context_length=args.context, train=args.train,
            train_batch_size=args.train_batch_size, seed=args.seed)
        # A context too short for a prompt and one timestep is only found out by the policy.
        report = run_benchmark(config, progress=lambda line: print(line, flush=True))
    except ValueError as error:
        print(f'error: {error}')
        return 2
    print(format_report(report))
    if args.json:
        print(f'wrote {write_report(report, args.json)}')
    return 0
