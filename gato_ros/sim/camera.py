"""The fixed scene camera that every simulated view of the arms shares.

One source for the MuJoCo scene (``scene.SceneConfig``) and the Gazebo description
(``gazebo_description``): the checkpoints were trained on this view, so a Gazebo camera that
drifted from it would show the policy a scene it never saw. Standard library only, so launch
files can import it without MuJoCo.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class SceneCamera:
    """The fixed scene camera, in ``base_link`` coordinates.

    Attributes:
        position_m: Camera position.
        target_m: The point it looks at (image centre), with the world's up as image up.
        fovy_deg: Vertical field of view.
        width: Published image width (px), as ``mujoco_arm``'s ``camera_width``.
        height: Published image height (px), as ``mujoco_arm``'s ``camera_height``.
        rate_hz: Publication rate, as ``mujoco_arm``'s ``camera_rate_hz``.
        near_m: Near clipping distance.
        far_m: Far clipping distance.
    """

    position_m: tuple = (1.0, 0.0, 0.9)
    target_m: tuple = (0.45, 0.0, 0.08)
    fovy_deg: float = 45.0
    width: int = 128
    height: int = 128
    rate_hz: float = 10.0
    near_m: float = 0.02
    far_m: float = 10.0
