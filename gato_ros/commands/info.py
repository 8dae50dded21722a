"""``gato-ros info``: a model preset's dimensions and parameter count (nothing allocated)."""

from gato_ros.configuration_gato import GatoConfig, list_presets


def add_arguments(parser):
    """Declare the command's options.

    Args:
        parser: the ``argparse.ArgumentParser`` of this command.
    """
    parser.add_argument('--preset', choices=list_presets(), default=None,
                        help='preset to describe; all presets when omitted')


def run(args):
    """Print the description of one preset or of all of them.

    Args:
        args: the parsed options (``preset``).

    Returns:
        int: exit status 0.
    """
    for name in [args.preset] if args.preset else list_presets():
        print(f'{name}\n  ' + GatoConfig.from_preset(name).describe().replace('\n', '\n  '))
    return 0
