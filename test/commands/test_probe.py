"""``gato-ros probe``: expert coefficients printed and written as JSON; bad options refused."""

import json

from gato_ros.cli import main


def test_probe_of_the_expert_prints_and_writes_its_coefficients(tmp_path, capsys):
    """The expert's goal coefficients are printed and written, clearly positive."""
    path = tmp_path / 'probe.json'
    assert main(['probe', '--policy', 'expert', '--arm', 'panda', '--tasks', 'reach_target',
                 '--episodes', '6', '--json', str(path)]) == 0
    assert 'panda/reach_target: x: goal +' in capsys.readouterr().out
    result = json.loads(path.read_text())['panda/reach_target']
    assert min(result['goal']) > 0.2 and result['episodes'] == 6 and result['steps'] == 3


def test_probe_refuses_unknown_tasks_and_too_few_episodes(capsys):
    """Bad options exit 2 with a message saying why."""
    assert main(['probe', '--policy', 'expert', '--arm', 'panda', '--tasks', 'fly']) == 2
    assert "unknown tasks ['fly']" in capsys.readouterr().out
    assert main(['probe', '--policy', 'expert', '--arm', 'panda', '--tasks', 'reach_target',
                 '--episodes', '2']) == 2
    assert 'episodes must be at least 4' in capsys.readouterr().out


def test_scenes_score_a_localization_checkpoint(tmp_path, capsys):
    """--scenes: a checkpoint trained on scenes is scored per task; misuse exits 2."""
    scenes = tmp_path / 'scenes'
    assert main(['collect', '--localization', '--arm', 'panda', '--tasks', 'reach_target',
                 '--episodes', '4', '--out', str(scenes)]) == 0
    checkpoint = tmp_path / 'locate'
    assert main(['train', '--data', str(scenes), '--preset', 'gato-test', '--steps', '1',
                 '--batch-size', '2', '--window-timesteps', '1', '--out', str(checkpoint)]) == 0
    capsys.readouterr()
    path = tmp_path / 'score.json'
    assert main(['probe', '--checkpoint', str(checkpoint), '--scenes', str(scenes),
                 '--json', str(path)]) == 0
    assert 'panda/locate/reach_target: correlation x ' in capsys.readouterr().out
    result = json.loads(path.read_text())['panda/locate/reach_target']
    assert result['scenes'] == 4 and result['median_spread_m'] > 0.0
    turns = tmp_path / 'turns'
    assert main(['collect', '--localization', '--localization-label', 'turn', '--arm', 'panda',
                 '--tasks', 'reach_target', '--episodes', '3', '--out', str(turns)]) == 0
    capsys.readouterr()
    assert main(['probe', '--checkpoint', str(checkpoint), '--scenes', str(scenes),
                 str(turns), '--json', str(path)]) == 2  # the checkpoint never saw turns
    assert "unknown task 'panda/turn/reach_target'" in capsys.readouterr().out
    turned = tmp_path / 'turned'
    assert main(['train', '--data', str(scenes), str(turns), '--preset', 'gato-test',
                 '--steps', '1', '--batch-size', '2', '--window-timesteps', '1',
                 '--out', str(turned)]) == 0
    capsys.readouterr()
    assert main(['probe', '--checkpoint', str(turned), '--scenes', str(scenes), str(turns),
                 '--json', str(path)]) == 0
    assert 'panda/turn/reach_target: correlation ' in capsys.readouterr().out
    results = json.loads(path.read_text())
    assert results['panda/turn/reach_target']['scenes'] == 3
    assert results['panda/locate/reach_target']['scenes'] == 4
    assert main(['probe', '--checkpoint', str(checkpoint)]) == 2
    assert 'the goal probe needs --arm' in capsys.readouterr().out
    assert main(['probe', '--policy', 'expert', '--scenes', str(scenes)]) == 2
    assert 'scores a --checkpoint, not the expert' in capsys.readouterr().out


def test_probe_of_a_wrist_camera_checkpoint_gives_it_both_images(tmp_path, capsys):
    """A checkpoint trained with --wrist-camera is probed with the wrist camera rendered."""
    demos = tmp_path / 'demos'
    assert main(['collect', '--arm', 'panda', '--tasks', 'reach_target', '--episodes', '1',
                 '--wrist-camera', '--out', str(demos)]) == 0
    checkpoint = tmp_path / 'wrist'
    assert main(['train', '--data', str(demos), '--preset', 'gato-test', '--steps', '1',
                 '--batch-size', '2', '--window-timesteps', '1', '--out', str(checkpoint)]) == 0
    capsys.readouterr()
    assert main(['probe', '--checkpoint', str(checkpoint), '--arm', 'panda', '--tasks',
                 'reach_target', '--episodes', '4', '--steps', '1']) == 0
    assert 'panda/reach_target: x: goal ' in capsys.readouterr().out
