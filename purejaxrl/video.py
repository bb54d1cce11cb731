"""Videos of a trained policy: `purejaxrl evaluate RUN --video PATH` (GIF or MP4 by extension).

    purejaxrl evaluate runs/CartPole-v1/ppo/<time> --video cartpole.gif
    purejaxrl evaluate RUN --video run3.mp4 --run 3 --episodes 2 --fps 50

The run's newest intact checkpoint is loaded (`purejaxrl.evaluate`), one run of the sweep is
chosen (`--run R`: grid point R // num_seeds, seed R % num_seeds, as in config.json's
`run_order`), its greedy policy plays `--episodes` episodes in one jitted scan, each from its own
reset, and every observation is drawn by the env's renderer (`envs.render`). The file is
written by imageio (the `video` extra: `pip install 'purejaxrl[video]'`), atomically.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl import envs
from purejaxrl.devices import compiler_options
from purejaxrl.envs import render
from purejaxrl.evaluate import _restore, check_not_diverged, load_run, policy_memory, with_memory
from purejaxrl.outputs import RunFolderError

FORMATS = (".gif", ".mp4")
VIDEO_MISSING = "--video needs the video extra: pip install 'purejaxrl[video]'"


def play(act, exported_run, spec: envs.EnvSpec, key, episodes: int, initial_carry=None):
    """(observations, returns) of `episodes` greedy episodes of one run.

    Args:
        act: `act(exported_run, obs (1, ...), key) -> actions (1, ...)`; for a recurrent policy
            (`initial_carry` given, see `evaluate.greedy_returns`) `act(exported_run, obs, key,
            carry, first) -> (actions, carry)`.
        exported_run: one run's policy (`learner.export`, no run axis).

    Returns:
        a list of `episodes` arrays (T_i, *obs), each from the reset to the last observation
        an action was taken in (T_i <= the episode limit, or 1000 without one), and (episodes,)
        their returns.
    """
    env = envs.make_batched(spec, 1)
    max_steps = spec.episode_limit or 1000
    act = with_memory(act, initial_carry)

    def one_episode(key):
        reset_key, key = jax.random.split(key)
        obs, state = env.reset(reset_key)

        def step(carry, key):
            obs, state, memory, ended, ret = carry
            act_key, env_key = jax.random.split(key)
            # the carry starts at zero (step 0 needs no reset); after the episode nothing is shown
            first = jnp.reshape(ended, (1,))
            action, memory = act(exported_run, obs, act_key, memory, first)
            next_obs, state, reward, _, _, info = env.step(env_key, state, action)
            ret = ret + jnp.where(ended, 0.0, reward[0])
            shown = (obs[0], ~ended)  # this step's observation, and whether it is in the episode
            return (next_obs, state, memory, ended | info["returned_episode"][0], ret), shown

        memory = () if initial_carry is None else initial_carry(1)
        init = (obs, state, memory, jnp.array(False), jnp.array(0.0))
        (*_, ret), (observations, inside) = jax.lax.scan(
            step, init, jax.random.split(key, max_steps)
        )
        return observations, inside, ret

    run = jax.jit(jax.vmap(one_episode), compiler_options=compiler_options())
    observations, inside, returns = jax.device_get(run(jax.random.split(key, episodes)))
    return [o[m] for o, m in zip(observations, inside, strict=True)], np.asarray(returns)


def play_on_host(act, exported_run, spec: envs.EnvSpec, key, episodes: int):
    """`play` for an env stepped on the host (Atari through envpool): one jitted step per call,
    stopping at each game's end, and only the newest frame of each observation kept (a game can
    last `spec.episode_limit` = 27,000 steps, whose whole stacked observations would take GBs).

    Returns:
        a list of `episodes` arrays (T_i, 1, 84, 84), and (episodes,) their returns: each
        game's unclipped score.
    """
    env = envs.make_batched(spec, 1)
    reset = jax.jit(env.reset)

    @jax.jit
    def step(exported_run, obs, state, key):
        act_key, env_key = jax.random.split(key)
        action = act(exported_run, obs, act_key)
        obs, state, _, _, _, info = env.step(env_key, state, action)
        return obs, state, info["returned_episode"][0], info["episode_return"][0]

    observations, returns = [], []
    for episode_key in jax.random.split(key, episodes):
        reset_key, step_key = jax.random.split(episode_key)
        obs, state = reset(reset_key)
        shown = []
        for t in range(spec.episode_limit):
            shown.append(np.asarray(obs[0, -1:]))
            t_key = jax.random.fold_in(step_key, t)
            obs, state, ended, score = step(exported_run, obs, state, t_key)
            if ended:
                break
        observations.append(np.stack(shown))
        returns.append(float(score))
    return observations, np.asarray(returns)


def record(
    run_dir: str | Path,
    path: str | Path,
    *,
    episodes: int = 1,
    seed: int = 0,
    fps: int = 30,
    run: int = 0,
) -> dict:
    """Writes a video of run `run`'s greedy policy to `path` (.gif or .mp4).

    Returns:
        {"path", "update" (the checkpoint's), "frames", "lengths" and "returns" per episode}.

    Raises:
        RunFolderError: a bad folder, run index, file type, an env without a renderer, or no
            imageio; all before anything is computed or written.
    """
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise RunFolderError(f"--video {path}: the file must end in {' or '.join(FORMATS)}")
    for name, value, low in (("episodes", episodes, 1), ("fps", fps, 1)):
        if value < low:
            raise RunFolderError(f"{name}={value}: must be >= {low}")
    try:
        import imageio.v3  # noqa: F401
    except ImportError:
        raise RunFolderError(VIDEO_MISSING) from None
    algorithm, config, record_ = load_run(run_dir)
    check_not_diverged(run_dir)
    num_runs = record_["num_seeds"] * len(record_["grid_labels"])
    if not 0 <= run < num_runs:
        raise RunFolderError(f"run={run}: must be in [0, {num_runs}) (the runs of {run_dir})")
    spec = config.env_spec()
    try:
        frame = render.renderer(spec)
    except render.NoRendererError as error:
        raise RunFolderError(str(error)) from None
    exported, update = _restore(run_dir, algorithm, config, record_, spec)
    one = jax.tree.map(lambda x: x[run], exported)
    act = algorithm.make_policy(config, spec)
    memory = policy_memory(algorithm, config, spec)
    if spec.vmappable:
        observations, returns = play(act, one, spec, jax.random.key(seed), episodes, memory)
    else:  # Atari: feed-forward policies only (the recurrent ones refuse image observations)
        observations, returns = play_on_host(act, one, spec, jax.random.key(seed), episodes)
    frames = np.stack([frame(obs) for episode in observations for obs in episode])
    write_video(path, frames, fps)
    return {
        "path": path,
        "update": update,
        "frames": len(frames),
        "lengths": [len(o) for o in observations],
        "returns": returns.tolist(),
    }


MP4_BLOCK = 16
"""H.264 codes 16 x 16 macroblocks; imageio-ffmpeg would resize other frame sizes (blurring them)."""


def pad_to_blocks(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) frames padded with black at the bottom and right to multiples of `MP4_BLOCK`."""
    height, width = frames.shape[1:3]
    pad_h, pad_w = -height % MP4_BLOCK, -width % MP4_BLOCK
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0))) if pad_h or pad_w else frames


def write_video(path: Path, frames: np.ndarray, fps: int) -> None:
    """Writes (T, H, W, 3) uint8 frames as a GIF or an MP4 (H.264; padded by `pad_to_blocks`),
    via a temporary file."""
    import imageio.v3 as iio

    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        if suffix == ".gif":
            iio.imwrite(tmp, frames, extension=".gif", duration=1000 / fps, loop=0)
        else:
            with warnings.catch_warnings():  # JAX warns of any fork; ffmpeg's is exec'd at once
                warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
                iio.imwrite(tmp, pad_to_blocks(frames), extension=".mp4", fps=fps)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
