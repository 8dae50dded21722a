"""Check run-time task inputs of the inference node: instructions and prompt files."""

from pathlib import Path

from gato_ros.data import Episode

# rclpy decodes ROS strings with errors='replace', so invalid UTF-8 arrives as this character.
REPLACEMENT_CHARACTER = '\ufffd'


def check_instruction(text, max_bytes):
    """Validate a natural-language instruction received on a topic.

    Args:
        text: The received string.
        max_bytes: Largest accepted UTF-8 size.

    Returns:
        str: The instruction without surrounding white space (may be empty: no instruction).

    Raises:
        ValueError: When it is longer than ``max_bytes`` or was not valid UTF-8.
    """
    size = len(text.encode('utf-8', errors='surrogatepass'))
    if size > max_bytes:
        raise ValueError(f'instruction of {size} bytes exceeds max_instruction_bytes={max_bytes}')
    if REPLACEMENT_CHARACTER in text:
        raise ValueError('instruction is not valid UTF-8')
    return text.strip()


def load_prompt(path):
    """Load a demonstration episode to prompt the policy with.

    Args:
        path: An episode ``.npz`` written by ``gato_ros.data.Episode.save``.

    Returns:
        gato_ros.data.Episode: The demonstration.

    Raises:
        FileNotFoundError: When the path does not exist.
        ValueError: When it is a directory (a rosbag2 recording: convert it to an episode file
            first) or not a valid episode file.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f'{path} is a directory; prompts are read from episode .npz files '
            '(gato_ros.data.Episode.save), convert the recording first')
    return Episode.load(path)
