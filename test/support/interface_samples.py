"""One filled-in sample of every message that gato_ros defines, for round-trip tests."""

from gato_ros.msg import AgentStatus, Observation, TaskStatus


def sample_messages():
    """Build one message of each gato_ros type with every field set to a non-default value.

    Returns:
        dict: message type name -> message instance.
    """
    joints = Observation(key='joints', encoding=Observation.ENCODING_FLOAT32, shape=[3],
                         data=[0.5, -1.25, 0.04], names=['a/position', 'b/position', 'c'])
    joints.header.stamp.sec = 12
    joints.header.stamp.nanosec = 345
    joints.header.frame_id = 'base_link'
    image = Observation(key='image', encoding=Observation.ENCODING_RGB8, shape=[2, 2, 3],
                        pixels=bytes(range(12)))
    status = AgentStatus(state='active', motion_enabled=True, control_rate_hz=9.5,
                         latency_p50_ms=12.5, latency_p99_ms=30.0, episode_step=7,
                         task='reach_red', instruction='reach the red ball',
                         last_error='stale image')
    task = TaskStatus(task='push_block', instruction='push the block', arm='ur5e', seed=3,
                      episode_time_s=1.5, success=True)
    return {'Observation': joints, 'ObservationImage': image, 'AgentStatus': status,
            'TaskStatus': task}


def as_comparable(msg):
    """Turn a message into plain Python values so two messages compare with ==.

    Args:
        msg: a ROS message instance.

    Returns:
        dict: field name -> plain value (arrays as lists, nested messages recursively).
    """
    out = {}
    for field in msg.get_fields_and_field_types():
        value = getattr(msg, field)
        if hasattr(value, 'get_fields_and_field_types'):
            value = as_comparable(value)
        elif not isinstance(value, (str, bool, int, float)):
            value = list(value)
        out[field] = value
    return out
