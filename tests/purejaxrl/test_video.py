"""Videos of a policy: the renderers draw what the observation says, `evaluate --video` writes a
GIF or MP4 whose decoded frames are the episode's, and what cannot be shown is refused first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from purejaxrl import envs, evaluate, outputs, registry, runner, video
from purejaxrl.envs import render
from purejaxrl.grid import Grid
from purejaxrl.ppo import PPOConfig

iio = pytest.importorskip("imageio.v3")


@pytest.mark.parametrize("env_id", list(render.CLASSIC))
def test_classic_control_frames_move_with_the_observation(env_id):
    frame = render.renderer(envs.spec(env_id))
    size = envs.spec(env_id).observation_space.shape[0]
    still, moved = np.zeros(size), np.zeros(size)
    if env_id == "CartPole-v1":
        moved[2] = 0.2  # the pole leans
    elif env_id == "Pendulum-v1":
        still[0], moved[0], moved[1] = 1.0, 0.0, 1.0  # upright, then horizontal
    elif env_id == "Acrobot-v1":
        still[[0, 2]], moved[[1, 2]] = 1.0, 1.0  # hanging down, then the first link sideways
    else:
        moved[0] = 0.3  # the car further up the hill
    a, b = frame(still), frame(moved)
    assert a.dtype == np.uint8 and a.shape[-1] == 3 and a.shape[0] % 16 == a.shape[1] % 16 == 0
    assert a.shape == b.shape and (a != b).any(axis=-1).sum() > 100


def test_minatar_gridworld_and_atari_frames_show_their_observation():
    spec = envs.spec("Breakout-MinAtar")
    obs = np.zeros((10, 10, 4))
    obs[2, 3, 1] = 1  # one object of channel 1
    image = render.renderer(spec)(obs.reshape(-1))
    assert image.shape == (160, 160, 3)
    tile = image[2 * 16 : 3 * 16, 3 * 16 : 4 * 16]
    assert (tile == render.channel_colors(4)[1]).all() and (image[:16, :16] == 0).all()

    frame = render.renderer(envs.spec("Gridworld-Maze-v0"))
    env, _ = envs.make("Gridworld-Maze-v0")
    assert (frame(np.array([2])) == env.render_rgb(2)).all()
    assert (frame(np.array([2])) != frame(np.array([0]))).any()

    stack = np.zeros((4, 84, 84), np.uint8)
    stack[-1, 10, 20] = 200
    image = render.atari(stack)
    assert image.shape == (168, 168, 3) and (image[20:22, 40:42] == 200).all()


def fake_run(folder: Path, env_id: str = "CartPole-v1") -> Path:
    folder.mkdir()
    config = PPOConfig(env_id=env_id, total_timesteps=2048, num_steps=64)
    record = outputs.config_record("ppo", config, Grid.from_values(config, None), 2)
    (folder / "config.json").write_text(json.dumps(record))
    return folder


def test_what_cannot_be_shown_is_refused_in_one_line_before_anything_runs(tmp_path):
    run_dir = fake_run(tmp_path / "run")
    cases = [
        (dict(path=tmp_path / "v.avi"), "the file must end in .gif or .mp4"),
        (dict(path=tmp_path / "v.gif", run=2), "run=2: must be in [0, 2)"),
        (dict(path=tmp_path / "v.gif", fps=0), "fps=0: must be >= 1"),
    ]
    for kwargs, message in cases:
        with pytest.raises(outputs.RunFolderError, match=None) as error:
            video.record(run_dir, **kwargs)
        assert message in str(error.value)
    probe = fake_run(tmp_path / "probe", "Probe-Constant-v0")
    with pytest.raises(outputs.RunFolderError, match="no renderer for its frames; videos are made"):
        video.record(probe, tmp_path / "v.gif")
    assert not list(tmp_path.glob("*.gif"))


@pytest.mark.slow
def test_a_video_holds_the_frames_of_the_greedy_episodes(tmp_path, capsys):
    config = PPOConfig(
        total_timesteps=4096, num_steps=64, num_seeds=2, progress=False, compilation_cache="",
        eval_episodes=0, runs_dir=str(tmp_path / "runs"),
    )  # fmt: skip
    run_dir = runner.run(config, registry.get("ppo").make_learner, "ppo").run_dir
    made = video.record(run_dir, tmp_path / "two.mp4", episodes=2, run=1, fps=25)
    frames = iio.imread(tmp_path / "two.mp4")
    assert frames.shape == (sum(made["lengths"]), 288, 480, 3)
    assert all(1 <= n <= 500 for n in made["lengths"]) and len(made["returns"]) == 2
    # CartPole pays 1 per step: a return is its episode's length
    assert made["returns"] == [float(n) for n in made["lengths"]]

    gif = str(tmp_path / "two.gif")  # the same episodes: same seed, run and episode count
    evaluate.main([str(run_dir), "--video", gif, "--fps", "20", "--run", "1", "--episodes", "2"])
    assert "wrote" in capsys.readouterr().out
    from PIL import Image

    with Image.open(gif) as image:  # identical frames are merged, their times added
        assert image.size == (480, 288)
        total_ms = 0
        for index in range(image.n_frames):
            image.seek(index)
            total_ms += image.info["duration"]
    assert total_ms == pytest.approx(made["frames"] * 50, rel=0.05)
