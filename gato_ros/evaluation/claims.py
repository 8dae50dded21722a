"""Claims that keep concurrent graphs on one machine apart: their log folder and DDS domain.

Two evaluations started side by side must neither write the same params file (a process
would start with the other arm's parameters) nor join the same ROS domain (each driver would
see the other's simulator). A claim is an advisory lock (``flock``) on a file: the kernel
drops it when its process ends, also when the process is killed, so no claim outlives a
crashed run.
"""

import fcntl
import os
from pathlib import Path
import random
import tempfile

# Per user: another user's lock files would not be writable.
DOMAIN_LOCK_DIR = Path(tempfile.gettempdir()) / f'gato_ros_domains_{os.getuid()}'


def claim(path):
    """Lock a file for this process, without waiting.

    Args:
        path: the lock file (created with its folder if missing).

    Returns:
        file or None: the open file holding the lock (closing it releases the claim); None
        when another process holds it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, 'a', encoding='utf-8')
    try:
        fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        stream.close()
        return None
    return stream


def claim_domain(domain_ids, lock_dir=DOMAIN_LOCK_DIR):
    """Claim a ROS domain that no other graph of this user holds, trying them in random order.

    Args:
        domain_ids: the candidate ``ROS_DOMAIN_ID`` values.
        lock_dir: folder of the per-domain lock files.

    Returns:
        tuple: (domain id, the open lock file; close it to release the domain).

    Raises:
        RuntimeError: when every candidate is held.
    """
    candidates = list(domain_ids)
    random.shuffle(candidates)
    for domain_id in candidates:
        lock = claim(Path(lock_dir) / f'{domain_id}.lock')
        if lock is not None:
            return domain_id, lock
    raise RuntimeError(f'every ROS domain of {sorted(candidates)} is in use by another '
                       'running graph of this machine')
