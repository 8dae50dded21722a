"""Tests of gato_ros.evaluation.driver: what a timed-out wait tells the user."""

import gc

from gato_ros.evaluation.driver import EpisodeDriver
from gato_ros.msg import AgentStatus
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from std_srvs.srv import SetBool

pytestmark = pytest.mark.dds


@pytest.fixture
def driver_and_agent():
    """Give a driver (short ready wait) and a stand-in inference node, spun by one executor."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('driver_under_test', context=context)
    agent = rclpy.create_node('inference_node', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(agent)
    yield EpisodeDriver(node, executor, '/commands', ready_timeout_s=0.5), agent
    rclpy.try_shutdown(context=context)
    gc.collect()


def test_a_silent_agent_is_named_in_the_timeout(driver_and_agent):
    """Without any status the timeout says that the inference node never answered."""
    driver, _ = driver_and_agent
    with pytest.raises(TimeoutError, match='no status received from the inference node'):
        driver.wait_until_active(timeout_s=0.3)


def test_an_agent_that_never_acts_stops_the_episode_with_its_last_error(driver_and_agent):
    """The agent answers and ticks but computes no action: the episode's ready wait gives up.

    The message carries what the agent reported (state, step, last error), the clue to a
    loaded machine whose observations arrive too old.
    """
    driver, agent = driver_and_agent
    agent.create_service(SetBool, '~/enable',
                         lambda request, response: SetBool.Response(success=True))
    publisher = agent.create_publisher(AgentStatus, '~/status', 10)
    stale = AgentStatus(state='active', episode_step=0,
                        last_error='observation joints is 0.62 s old')
    agent.create_timer(0.05, lambda: publisher.publish(stale))
    with pytest.raises(TimeoutError) as raised:
        driver.run_episode('reach_target', seed=1, time_limit_s=5.0)
    assert str(raised.value) == (
        'timed out after 0.5 s waiting for the agent to compute actions (inference node active, '
        'episode step 0, last error: observation joints is 0.62 s old)')
