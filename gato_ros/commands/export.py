"""``gato-ros export``: a deployable copy of a checkpoint, without training state.

Example (how ``checkpoints/demo`` was made)::

    python -m gato_ros export --checkpoint runs/gen2m --out checkpoints/demo --dtype bfloat16

Writes the policy files (config, weights, spec, text tokenizer) plus the run summary and loss
plot when present; drops the optimizer state. Weights may be stored in bfloat16/float16 to
halve the size; ``GatoPolicy.from_pretrained`` loads them into the float32 model.
"""

from pathlib import Path
import shutil

from gato_ros.policy import Checkpoint, write_safetensors
from gato_ros.training import SUMMARY_FILE
from safetensors.torch import load_file
import torch

DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}


def add_arguments(parser):
    """Declare the command's options.

    Args:
        parser: the ``argparse.ArgumentParser`` of this command.
    """
    parser.add_argument('--checkpoint', required=True, metavar='DIR', help='trained checkpoint')
    parser.add_argument('--out', required=True, metavar='DIR', help='destination folder')
    parser.add_argument('--dtype', choices=sorted(DTYPES), default='float32',
                        help='storage type of the weights')


def run(args):
    """Load the checkpoint strictly, then write the deployable copy.

    Args:
        args: the parsed options.

    Returns:
        int: 0 on success, 2 when the checkpoint cannot be loaded.
    """
    try:
        out = Checkpoint.load(args.checkpoint).save(args.out)
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}')
        return 2
    weights = out / 'model.safetensors'
    state = {name: value.to(DTYPES[args.dtype]) for name, value in load_file(weights).items()}
    write_safetensors(state, weights)
    for extra in (SUMMARY_FILE, 'loss.png'):
        if (Path(args.checkpoint) / extra).is_file():
            shutil.copy(Path(args.checkpoint) / extra, out / extra)
    Checkpoint.load(out)
    print(f'wrote {out} ({weights.stat().st_size / 2 ** 20:.1f} MiB of {args.dtype} weights)')
    return 0
