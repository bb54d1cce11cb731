"""Datasets from our own agents: play a finished run's policy (or a random one) and record it.

    purejaxrl collect runs/CartPole-v1/ppo/<time> --out data/cartpole-expert --split expert
    purejaxrl collect runs/CartPole-v1/ppo/<time> --checkpoint 200 --out data/cartpole-medium \
        --split medium                                   # a checkpoint part-way through the run
    purejaxrl collect runs/Pendulum-v1/ddpg/<time> --mode noise --noise-std 0.3 --out ...
    purejaxrl collect --mode random --env-id CartPole-v1 --out data/cartpole-random
    purejaxrl collect runs/CartPole-v1/dqn/<time> --mode replay --checkpoint 100 \
        --out data/cartpole-medium-replay --split medium-replay   # the run's replay buffer
    purejaxrl collect --concat data/cartpole-medium data/cartpole-expert --split medium-expert \
        --out data/cartpole-medium-expert                # two datasets, one after the other
    python -m purejaxrl.collect ...                      # the same

All `num_envs` envs are stepped `steps // num_envs` times in one jitted `lax.scan`; the dataset
(`purejaxrl/datasets.py` describes the format) keeps terminated and truncated apart and the true
final observation of every episode. Policy modes (`--mode`):

  greedy      the run's evaluation policy (argmax Q, the policy's mode: what `evaluate` plays)
  stochastic  a sample of the run's policy, for the algorithms that have one (registry `sampler`:
              PPO, A2C, REINFORCE, BC)
  epsilon     greedy, but a uniformly random action with probability --epsilon (discrete actions)
  noise       greedy plus Gaussian noise of --noise-std times half the action range, clipped to
              the action space (continuous actions)
  random      uniformly random actions; needs no run (--env-id)
  replay      no playing: the replay buffer of an off-policy run (DQN, DDPG, SAC) as its
              checkpoint holds it, oldest first (D4RL's medium-replay: what the agent saw while
              it learned); --steps and --num-envs do not apply

A part-way checkpoint exists only if the run kept it: train with `--checkpoint-every N
--keep-checkpoints K` large enough (checkpoints are saved every N updates and the newest K kept);
`--checkpoint U` then picks the one after U updates.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from purejaxrl import datasets, envs
from purejaxrl.checks import ConfigError
from purejaxrl.devices import compiler_options

Mode = Literal["greedy", "stochastic", "epsilon", "noise", "random", "replay"]


def random_policy(spec: envs.EnvSpec) -> Callable:
    """`act(exported, obs, key) -> action`: uniformly random actions (exported is ignored)."""
    space = spec.action_space

    def act(exported, obs, key):
        num = obs.shape[0]
        if spec.discrete_actions:
            return jax.random.randint(key, (num,), 0, spec.num_actions)
        low, high = jnp.asarray(space.low), jnp.asarray(space.high)
        return jax.random.uniform(key, (num, *space.shape), minval=low, maxval=high)

    return act


def epsilon_greedy_policy(act: Callable, spec: envs.EnvSpec, epsilon: float) -> Callable:
    """`act` with each action replaced, with probability `epsilon`, by a uniform one."""
    uniform = random_policy(spec)

    def noisy(exported, obs, key):
        act_key, coin_key, random_key = jax.random.split(key, 3)
        action = act(exported, obs, act_key)
        explore = jax.random.uniform(coin_key, action.shape) < epsilon
        return jnp.where(explore, uniform(exported, obs, random_key), action)

    return noisy


def gaussian_noise_policy(act: Callable, spec: envs.EnvSpec, noise_std: float) -> Callable:
    """`act` plus N(0, (noise_std * (high - low) / 2)^2) per action dimension (the scale of
    DDPG's and TD3's exploration noise), clipped to the action space."""
    space = spec.action_space
    low, high = jnp.asarray(space.low), jnp.asarray(space.high)
    scale = noise_std * (high - low) / 2

    def noisy(exported, obs, key):
        act_key, noise_key = jax.random.split(key)
        action = act(exported, obs, act_key).reshape((obs.shape[0], *space.shape))
        noise = scale * jax.random.normal(noise_key, action.shape)
        return jnp.clip(action + noise, low, high)

    return noisy


def collect(
    act: Callable, exported, spec: envs.EnvSpec, num_envs: int, steps_per_env: int, key
) -> dict[str, np.ndarray]:
    """Plays `act` in `num_envs` envs for `steps_per_env` steps each, in one jitted scan.

    Args:
        act: `act(exported, obs (E, ...), key) -> action (E, ...)`.
        exported: the policy's parameters (one run's).
        spec: the env (vmappable); observations are the env's own (not normalised).

    Returns:
        the arrays of `datasets.STEP_FIELDS` and `datasets.EPISODE_FIELDS` (numpy), rows in
        stream order (env 0's steps, then env 1's, ...).
    """
    env = envs.make_batched(spec, num_envs)
    discrete = spec.discrete_actions
    space = spec.action_space

    def program(exported, key):
        reset_key, key = jax.random.split(key)
        obs, state = env.reset(reset_key)

        def step(carry, key):
            obs, state = carry
            act_key, env_key = jax.random.split(key)
            action = act(exported, obs, act_key)
            if discrete:
                action = action.astype(jnp.int32)
            else:  # what the env executes (its ClipAction clips the same way)
                action = action.reshape((num_envs, *space.shape)).astype(jnp.float32)
                action = jnp.clip(action, space.low, space.high)
            next_obs, state, reward, terminated, truncated, info = env.step(env_key, state, action)
            row = {
                "observations": obs.astype(jnp.float32),
                "actions": action,
                "rewards": reward.astype(jnp.float32),
                "next_observations": info["final_observation"].astype(jnp.float32),
                "terminals": terminated.astype(bool),
                "timeouts": truncated.astype(bool),
                "ended": info["returned_episode"],
                "episode_return": info["episode_return"].astype(jnp.float32),
                "episode_length": info["episode_length"].astype(jnp.int32),
            }
            return (next_obs, state), row

        _, rows = jax.lax.scan(step, (obs, state), jax.random.split(key, steps_per_env))
        return rows  # (T, N, ...) each

    rows = jax.jit(program, compiler_options=compiler_options())(exported, key)
    rows = {k: np.asarray(v) for k, v in rows.items()}
    ended = rows.pop("ended")  # (T, N), episodes in the order they ended (time-major)
    episode_returns = rows.pop("episode_return")[ended]
    episode_lengths = rows.pop("episode_length")[ended]
    out = {k: np.swapaxes(v, 0, 1).reshape((-1, *v.shape[2:])) for k, v in rows.items()}
    stream_ends = np.zeros((num_envs, steps_per_env), bool)
    stream_ends[:, -1] = True
    out["stream_ends"] = stream_ends.reshape(-1)
    out["episode_returns"] = episode_returns.astype(np.float32)
    out["episode_lengths"] = episode_lengths.astype(np.int32)
    return out


def random_dataset(spec: envs.EnvSpec, num_envs: int, steps: int, seed: int) -> datasets.Dataset:
    """The `random` split: `steps // num_envs` steps of uniformly random actions in each of
    `num_envs` envs, from `jax.random.key(seed)`."""
    arrays = collect(random_policy(spec), (), spec, num_envs, steps // num_envs,
                     jax.random.key(seed))  # fmt: skip
    source = {"run_dir": None, "policy_mode": "random", "seed": seed, "num_envs": num_envs,
              "steps_per_env": steps // num_envs}  # fmt: skip
    return datasets.Dataset(arrays, {"split": "random", "env": datasets.spec_record(spec),
                                     "source": source})  # fmt: skip


@dataclass(frozen=True)
class CollectArgs:
    """Record a dataset of transitions from a finished run's policy (or a random one)."""

    run_dir: tyro.conf.Positional[str] = ""
    """A run folder (<runs-dir>/<env-id>/<algo>/<time>); empty with --mode random or --concat."""
    out: str = ""
    """The dataset folder to write (replaced if it is a dataset already)."""
    mode: Mode = "greedy"
    """greedy: the run's evaluation policy; stochastic: a sample of its policy; epsilon: a
    uniformly random action with probability --epsilon (discrete actions); noise: Gaussian noise
    of --noise-std half action ranges (continuous actions); random: uniform actions, no run;
    replay: an off-policy run's replay buffer as its checkpoint holds it (medium-replay)."""
    steps: int = 100_000
    """Transitions to record, over all envs (rounded down to a multiple of num_envs)."""
    num_envs: int = 16
    """Envs stepped in parallel; each records one stream of steps // num_envs steps."""
    seed: int = 0
    """Seed of the envs and of the policy's randomness."""
    run: int = 0
    """Which run of the sweep plays: grid point RUN // num_seeds, seed RUN % num_seeds."""
    checkpoint: int = -1
    """The checkpoint to play, by updates done (a part-way one for the medium split); -1: the
    newest."""
    epsilon: float = 0.1
    """With --mode epsilon: the probability of a uniformly random action."""
    noise_std: float = 0.1
    """With --mode noise: the noise's standard deviation, in half action ranges."""
    split: str = ""
    """The D4RL split name the data stands for (random, medium, expert, medium-replay,
    medium-expert, custom); empty: random for --mode random, else custom."""
    env_id: str = "CartPole-v1"
    """With --mode random: the env."""
    env_options: tuple[str, ...] = ()
    """With --mode random: env options as key=value (e.g. obs_keep=0,2)."""
    concat: tuple[str, ...] = ()
    """Instead of collecting: datasets to concatenate into --out, in order (medium-expert:
    the medium one, then the expert one)."""


def check_args(args: CollectArgs) -> None:
    """Raises `ConfigError` (one line) for the first bad argument."""
    from purejaxrl.checks import require

    require(args, "out", bool(args.out), "give the dataset folder to write (--out PATH)")
    require(args, "split", args.split in ("", *datasets.SPLITS),
            f"must be one of {', '.join(datasets.SPLITS)}")  # fmt: skip
    if args.concat:
        require(args, "concat", len(args.concat) >= 2, "give at least two datasets")
        return
    require(args, "num_envs", args.num_envs >= 1, "must be >= 1")
    require(args, "steps", args.steps >= args.num_envs,
            f"must be >= num_envs={args.num_envs} (one step per env)")  # fmt: skip
    require(args, "epsilon", 0.0 <= args.epsilon <= 1.0, "must be in [0, 1]")
    require(args, "noise_std", args.noise_std >= 0.0, "must be >= 0")
    if args.mode == "random":
        require(args, "run_dir", not args.run_dir, "--mode random plays no run: leave it out")
    elif args.mode == "replay":
        require(args, "run_dir", bool(args.run_dir), "--mode replay reads a run's replay buffer: "
                "give its folder")  # fmt: skip
    else:
        require(args, "run_dir", bool(args.run_dir),
                f"--mode {args.mode} plays a run's policy: give its folder")  # fmt: skip


def open_run(args: CollectArgs):
    """(algorithm row, config, spec, source metadata, newest) of `args.run_dir`, checked: a JAX
    env or envpool MuJoCo (not Atari), a feed-forward policy, the run and checkpoint asked for exist."""
    from purejaxrl import checkpoints
    from purejaxrl.evaluate import check_not_diverged, load_run

    algorithm, config, record = load_run(args.run_dir)
    check_not_diverged(args.run_dir)
    spec = config.env_spec()
    if not (spec.vmappable or spec.suite == "mujoco"):
        raise ConfigError(f"run_dir={args.run_dir!r}: {spec.env_id} is stepped on the host "
                          "(envpool Atari); collect plays JAX envs and MuJoCo only")  # fmt: skip
    if algorithm.recurrent:
        raise ConfigError(f"run_dir={args.run_dir!r}: {algorithm.name}'s policy is recurrent; "
                          "collect plays feed-forward policies only")  # fmt: skip
    num_seeds, labels = record["num_seeds"], record["grid_labels"]
    num_runs = num_seeds * len(labels)
    if not 0 <= args.run < num_runs:
        raise ConfigError(f"run={args.run}: the run folder has runs 0 to {num_runs - 1}")
    newest = None
    if args.checkpoint >= 0:
        kept = checkpoints.all_steps(Path(args.run_dir))
        if args.checkpoint not in kept:
            raise ConfigError(
                f"checkpoint={args.checkpoint}: not kept in {args.run_dir}; kept: {kept} (train "
                "with --checkpoint-every N --keep-checkpoints K to keep part-way ones)"
            )
        newest = args.checkpoint
    source = {
        "run_dir": str(Path(args.run_dir).resolve()),
        "algo": algorithm.name,
        "run": args.run,
        "grid_point": labels[args.run // num_seeds],
        "run_seed_index": args.run % num_seeds,
        "run_num_updates": int(algorithm.make_learner(config, spec).num_updates),
    }
    return algorithm, config, record, spec, source, newest


def policy_of_run(args: CollectArgs):
    """(act, exported of run `args.run`, spec, source metadata) of the run folder, its policy
    wrapped for `args.mode`."""
    from purejaxrl.evaluate import _restore

    algorithm, config, record, spec, source, newest = open_run(args)
    exported, update = _restore(args.run_dir, algorithm, config, record, spec, newest=newest)
    exported = jax.tree.map(lambda x: x[args.run], exported)
    if args.mode == "stochastic":
        if algorithm.make_sampler is None:
            raise ConfigError(f"mode='stochastic': {algorithm.name} has no stochastic policy "
                              "(use epsilon or noise)")  # fmt: skip
        act = algorithm.make_sampler(config, spec)
    else:
        act = algorithm.make_policy(config, spec)
    if args.mode == "epsilon":
        if not spec.discrete_actions:
            raise ConfigError(f"mode='epsilon': {spec.env_id} has continuous actions "
                              "(use noise)")  # fmt: skip
        act = epsilon_greedy_policy(act, spec, args.epsilon)
    elif args.mode == "noise":
        if spec.discrete_actions:
            raise ConfigError(f"mode='noise': {spec.env_id} has discrete actions "
                              "(use epsilon)")  # fmt: skip
        act = gaussian_noise_policy(act, spec, args.noise_std)
    return act, exported, spec, {**source, "checkpoint_update": int(update)}


def replay_of_run(args: CollectArgs) -> datasets.Dataset:
    """The replay buffer of run `args.run` of an off-policy run folder, as its checkpoint holds
    it (`replay_arrays`)."""
    from purejaxrl.evaluate import restore_state

    algorithm, config, record, spec, source, newest = open_run(args)
    _, state, update = restore_state(args.run_dir, algorithm, config, record, spec, newest)
    buffer = getattr(state, "buffer", None)
    if buffer is None or not hasattr(getattr(buffer, "data", None), "next_obs"):
        raise ConfigError(f"mode='replay': {algorithm.name} keeps no replay buffer of "
                          "transitions (dqn, ddpg and sac do)")  # fmt: skip
    run = jax.tree.map(lambda x: np.asarray(x[args.run]), (buffer, state.timesteps))
    arrays = replay_arrays(*run, config.num_envs, spec)
    source = {**source, "checkpoint_update": int(update), "policy_mode": "replay",
              "num_envs": config.num_envs}  # fmt: skip
    metadata = {"split": args.split or "medium-replay", "env": datasets.spec_record(spec),
                "source": source}  # fmt: skip
    return datasets.Dataset(arrays, metadata)


def replay_arrays(buffer, timesteps, num_envs: int, spec: envs.EnvSpec) -> dict[str, np.ndarray]:
    """A replay buffer's transitions as dataset arrays, one stream per env in time order.

    The off-policy loop adds the `num_envs` envs' transitions of each step at consecutive slots,
    env by env, and counts them in `timesteps`; the buffer keeps the newest `size`. So the
    oldest kept transition is the (timesteps - size)-th ever added, and the k-th added came from
    env k % num_envs. Stored continuous actions are in [-1, 1]: they are mapped onto the action
    space, as the env received them. An episode counts in `episode_returns` if the buffer holds
    all of it.

    Args:
        buffer: one run's `replay.BufferState` (numpy leaves, no run axis) of `Transition`s.
        timesteps: () transitions ever added.
    """
    data, size, position = buffer.data, int(buffer.size), int(buffer.position)
    capacity = np.shape(data.reward)[0]
    order = np.arange(size) if size < capacity else (position + np.arange(capacity)) % capacity
    first = int(timesteps) - size  # how many were added before the oldest kept one
    env_of = (first + np.arange(size)) % num_envs
    streams = [order[env_of == n] for n in range(num_envs)]
    rows = np.concatenate(streams)
    actions = np.asarray(data.action)[rows]
    if spec.discrete_actions:
        actions = actions.astype(np.int32)
    else:
        space = spec.action_space
        low, high = np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)
        actions = np.clip(low + (actions + 1.0) * 0.5 * (high - low), low, high)
        actions = actions.reshape((-1, *space.shape)).astype(np.float32)
    out = {
        "observations": np.asarray(data.obs)[rows].astype(np.float32),
        "actions": actions,
        "rewards": np.asarray(data.reward)[rows].astype(np.float32),
        "next_observations": np.asarray(data.next_obs)[rows].astype(np.float32),
        "terminals": np.asarray(data.terminated)[rows].astype(bool),
        "timeouts": np.asarray(data.truncated)[rows].astype(bool),
    }
    lengths = np.array([len(stream) for stream in streams])
    out["stream_ends"] = np.zeros(len(rows), bool)
    out["stream_ends"][np.cumsum(lengths)[lengths > 0] - 1] = True
    returns, steps = [], []
    start = 0
    for length in lengths:
        ends = out["terminals"][start : start + length] | out["timeouts"][start : start + length]
        rewards = out["rewards"][start : start + length]
        begin = 0 if first == 0 else None  # the stream's first row begins an episode only then
        for end in np.flatnonzero(ends):
            if begin is not None:
                returns.append(rewards[begin : end + 1].sum())
                steps.append(end + 1 - begin)
            begin = end + 1
        start += length
    out["episode_returns"] = np.asarray(returns, np.float32)
    out["episode_lengths"] = np.asarray(steps, np.int32)
    return out


def make_dataset(args: CollectArgs) -> datasets.Dataset:
    """The dataset `args` asks for (checked; nothing written)."""
    check_args(args)
    if args.concat:
        parts = [datasets.load(path) for path in args.concat]
        return datasets.concatenate(parts, args.split or "custom")
    if args.mode == "random":
        spec = _env_spec(args)
        dataset = random_dataset(spec, args.num_envs, args.steps, args.seed)
        return datasets.Dataset(
            dataset.arrays, {**dataset.metadata, "split": args.split or "random"}
        )
    if args.mode == "replay":
        return replay_of_run(args)
    act, exported, spec, source = policy_of_run(args)
    steps_per_env = args.steps // args.num_envs
    arrays = collect(act, exported, spec, args.num_envs, steps_per_env, jax.random.key(args.seed))
    source = {
        **source, "policy_mode": args.mode, "seed": args.seed, "num_envs": args.num_envs,
        "steps_per_env": steps_per_env,
        **({"epsilon": args.epsilon} if args.mode == "epsilon" else {}),
        **({"noise_std": args.noise_std} if args.mode == "noise" else {}),
    }  # fmt: skip
    metadata = {
        "split": args.split or "custom",
        "env": datasets.spec_record(spec),
        "source": source,
    }
    return datasets.Dataset(arrays, metadata)


def _env_spec(args: CollectArgs) -> envs.EnvSpec:
    """The spec of `--env-id` with `--env-options`, errors as one-line `ConfigError`s."""
    from purejaxrl.config import TaskConfig

    task = TaskConfig(env_id=args.env_id, env_options=args.env_options)
    try:
        return envs.spec(args.env_id, **task.parsed_env_options)
    except (envs.UnknownEnvironmentError, envs.EnvOptionError) as error:
        raise ConfigError(f"env_id: {error}") from None


def main(argv=None, prog: str = "purejaxrl collect") -> None:
    """`purejaxrl collect ...`, `python -m purejaxrl.collect ...`: writes the dataset, one line."""
    from purejaxrl.checkpoints import CheckpointError
    from purejaxrl.cli import tyro_parse

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = tyro_parse(CollectArgs, argv, prog)
        dataset = make_dataset(args)
        path = datasets.save(args.out, dataset)
    except (ConfigError, CheckpointError) as error:  # DatasetError, RunFolderError included
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    source = dataset.metadata["source"]
    where = f"checkpoint after update {source['checkpoint_update']} of {source['run_dir']}" if (
        source.get("run_dir")) else "no run"  # fmt: skip
    print(
        f"wrote {path}: {len(dataset):,} transitions on {dataset.env_id}, "
        f"{dataset.episodes_text()} (split {dataset.metadata['split']}, mode "
        f"{source.get('policy_mode', 'concatenated')}, {where})"
    )


if __name__ == "__main__":
    main(prog="python -m purejaxrl.collect")
