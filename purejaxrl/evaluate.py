"""Greedy evaluation of a finished run's checkpoint: deterministic episodes for every run in it.

purejaxrl evaluate runs/CartPole-v1/ppo/20261121-120000 --episodes 16
python -m purejaxrl.evaluate runs/CartPole-v1/ppo/20261121-120000 --episodes 16   # the same
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from purejaxrl import checkpoints, envs, outputs, registry
from purejaxrl.checkpoints import CheckpointError
from purejaxrl.checks import ConfigError
from purejaxrl.devices import compiler_options
from purejaxrl.hparams import hparams
from purejaxrl.outputs import RunFolderError
from purejaxrl.rollout import first_episode_returns


def load_run(run_dir: str | Path) -> tuple[registry.Algorithm, Any, dict]:
    """(the algorithm's registry row, config, config record) of a run folder, each checked.

    Raises:
        RunFolderError: no such folder, no or broken config.json, unknown algorithm.
    """
    record = outputs.read_record(run_dir)
    try:
        algorithm = registry.get(record["algo"])
    except registry.UnknownAlgorithmError as error:
        raise RunFolderError(f"{run_dir}: config.json names an {error}") from None
    config, _ = outputs.config_from_record(
        algorithm.config_cls, record, Path(run_dir) / "config.json"
    )
    return algorithm, config, record


def load_exported(run_dir: str | Path):
    """(the algorithm's registry row, config, the policy of every run (leading axis = run)) of a
    run folder, from its latest checkpoint."""
    algorithm, config, record = load_run(run_dir)
    return algorithm, config, _restore(run_dir, algorithm, config, record)[0]


def _restore(run_dir, algorithm: registry.Algorithm, config, record, spec=None, newest=None):
    """(policies, update): `restore_state`'s learner state exported (`learner.export`), the
    policy of every run (leading axis = run); and its update."""
    learner, state, update = restore_state(run_dir, algorithm, config, record, spec, newest)
    return jax.jit(jax.vmap(learner.export))(state), update


def restore_state(run_dir, algorithm: registry.Algorithm, config, record, spec=None, newest=None):
    """(learner, state, update): the newest intact checkpoint's learner state of every run (of
    the checkpoints after at most `newest` updates, if given; host arrays, leading axis = run),
    checked against this algorithm's, and its update. A damaged newer checkpoint is named on
    stderr."""
    num_runs = record["num_seeds"] * len(record["grid_labels"])
    spec = config.env_spec() if spec is None else spec
    if not spec.vmappable:  # a host env is built for the runs vmapped over it (`EnvSpec.runs`)
        spec = dataclasses.replace(spec, runs=num_runs)
    learner = algorithm.make_learner(config, spec)
    hp = hparams(config)
    keys = jax.random.split(jax.random.key(0), num_runs)
    state = jax.eval_shape(jax.vmap(learner.init, in_axes=(0, None)), keys, hp)
    metrics = jax.eval_shape(jax.vmap(learner.update, in_axes=(0, None)), state, hp)[1]
    about = {"algo": record["algo"], "env_id": config.env_id, "num_runs": num_runs}
    snapshot, notes = checkpoints.restore_newest_intact(
        run_dir, state, {k: v.dtype for k, v in metrics.items()}, num_runs, about, newest
    )
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return learner, snapshot.state, snapshot.updates_done


def check_not_diverged(run_dir: str | Path) -> dict:
    """summary.json of the run; raises `RunFolderError` if any of its runs diverged."""
    summary = outputs.read_summary(Path(run_dir)) or {}
    lost = summary.get("diverged") or []
    if lost:
        first = lost[0]
        raise RunFolderError(
            f"{run_dir}: {len(lost)} run(s) diverged during training (first: seed {first['seed']} "
            f"{first['grid_point'] or ''} at update {first['update']}); their policies are not "
            "finite"
        )
    return summary


def greedy_returns(
    act,
    exported,
    env: str | envs.EnvSpec,
    num_episodes: int,
    key: jax.Array,
    initial_carry=None,
) -> jax.Array:
    """Returns of `num_episodes` episodes per run, each the first episode of its own env.

    Args:
        act: `act(exported_one_run, obs (E, ...), key) -> actions (E, ...)`; for a recurrent
            policy `act(exported_one_run, obs, key, carry, first) -> (actions, carry)`.
        exported: parameters with a leading run axis R.
        env: the env's id or `envs.EnvSpec`; it must be vmappable (not Atari).
        initial_carry: a recurrent policy's `initial_carry(num_envs) -> carry`
            (`policy_memory`), None for a feed-forward one.

    Returns:
        shape (R, num_episodes).
    """
    spec = envs.spec(env) if isinstance(env, str) else env
    env = envs.make_batched(spec, num_episodes)
    max_steps = (spec.episode_limit or 1000) + 1
    act = with_memory(act, initial_carry)

    def one_run(exported_run, key):
        return first_episode_returns(act, exported_run, env, max_steps, key, initial_carry)

    num_runs = jax.tree.leaves(exported)[0].shape[0]
    keys = jax.random.split(key, num_runs)
    return jax.jit(jax.vmap(one_run), compiler_options=compiler_options())(exported, keys)


def greedy_returns_on_host(
    act, exported, spec: envs.EnvSpec, num_episodes: int, key: jax.Array
) -> jax.Array:
    """`greedy_returns` for an env stepped on the host (Atari through envpool), which cannot be
    vmapped over runs of different parameters: the runs play one after another on one pool of
    `num_episodes` games, each run from a reset of every game, until each game has ended once
    (or the episode limit, after which envpool truncates it). A return is the whole game's
    unclipped score. The pool's games draw their no-op starts from envpool's own seed (the
    run's `--seed`), not from `key`.

    Returns:
        shape (R, num_episodes).
    """
    env = envs.make_batched(spec, num_episodes)
    limit = spec.episode_limit + 1

    def one_run(exported_run, key):
        obs, state = env.reset(key)
        empty = jnp.zeros(num_episodes)
        # (steps taken, key, obs, env state, each game's first return, whether it has ended)
        init = (jnp.int32(0), key, obs, state, empty, jnp.zeros(num_episodes, bool))

        def going(carry):
            steps, _, _, _, _, finished = carry
            return (steps < limit) & ~finished.all()

        def step(carry):
            steps, key, obs, state, returns, finished = carry
            key, act_key, env_key = jax.random.split(key, 3)
            action = act(exported_run, obs, act_key)
            obs, state, _, _, _, info = env.step(env_key, state, action)
            first_end = info["returned_episode"] & ~finished
            returns = jnp.where(first_end, info["episode_return"], returns)
            return steps + 1, key, obs, state, returns, finished | info["returned_episode"]

        return jax.lax.while_loop(going, step, init)[4]

    run = jax.jit(one_run, compiler_options=compiler_options())
    num_runs = jax.tree.leaves(exported)[0].shape[0]
    keys = jax.random.split(key, num_runs)
    returns = []
    for r in range(num_runs):
        returns.append(run(jax.tree.map(lambda x, r=r: x[r], exported), keys[r]))
    return jnp.stack(returns)


def play_greedy(
    act, exported, spec: envs.EnvSpec, num_episodes: int, key: jax.Array, initial_carry=None
):
    """(R, num_episodes) greedy returns: `greedy_returns` for JAX envs (all runs in one vmapped
    program), `greedy_returns_on_host` for Atari (feed-forward policies only: the recurrent
    ones refuse image observations)."""
    if spec.vmappable:
        return greedy_returns(act, exported, spec, num_episodes, key, initial_carry)
    return greedy_returns_on_host(act, exported, spec, num_episodes, key)


def policy_memory(algorithm: registry.Algorithm, config, spec):
    """`initial_carry(num_envs) -> carry` of a recurrent algorithm's policy, None otherwise."""
    make = algorithm.make_initial_carry
    return None if make is None else functools.partial(make, config, spec)


def with_memory(act, initial_carry):
    """`act` in the recurrent form `(exported, obs, key, carry, first) -> (action, carry)`: a
    feed-forward `act` (`initial_carry` None) gets an empty carry it hands back unchanged."""
    if initial_carry is not None:
        return act

    def act_with_memory(exported, obs, key, carry, first):
        return act(exported, obs, key), carry

    return act_with_memory


GREEDY_DEFINITION = (
    "per seed, the mean undiscounted return of {episodes} episodes played at the end of training "
    "by the greedy policy (argmax Q, or the mode of the policy), each from its own reset; "
    "statistics over seeds; a diverged run is scored as in the final return (diverged_scored_at)"
)


def greedy_summary(
    algo: str,
    config,
    exported,
    labels: list[str],
    diverged: np.ndarray,
    results: list[dict],
    *,
    episodes: int,
    seed: int = 0,
) -> dict | None:
    """summary.json's `greedy_evaluation` of a finished sweep, or None where it is not cheap (an
    env that cannot be vmapped: Atari) or the algorithm is not in the registry.

    Args:
        exported: every run's policy (`learner.export`), leading axis = run (grid-major).
        diverged: (grid, seed) bool, the runs whose loss became non-finite.
        results: the summary's rows (`outputs.summarize`), for the score diverged runs count at.
    """
    spec = config.env_spec()
    if episodes < 1 or not spec.vmappable or algo not in registry.ALGORITHMS:
        return None
    algorithm = registry.get(algo)
    act = algorithm.make_policy(config, spec)
    memory = policy_memory(algorithm, config, spec)
    returns = greedy_returns(act, exported, spec, episodes, jax.random.key(seed), memory)
    per_run = np.asarray(returns, np.float64).mean(axis=-1).reshape(len(labels), -1)
    rows = []
    for label, per_seed, lost, row in zip(labels, per_run, diverged, results, strict=True):
        worst = row["diverged_scored_at"]
        rows.append(
            {
                "grid_point": label,
                **outputs.seed_statistics("greedy_return", per_seed, lost, worst),
                "greedy_return_per_seed": [
                    None if gone else float(x) for x, gone in zip(per_seed, lost, strict=True)
                ],
            }
        )
    return {
        "episodes": episodes,
        "seed": seed,
        "definition": GREEDY_DEFINITION.format(episodes=episodes),
        "results": rows,
    }


def record_greedy_evaluation(result, algo: str, diverged_at: np.ndarray) -> None:
    """Adds `greedy_summary` to a finished run's summary (`result`: a `runner.RunResult` with
    its exported policies) and rewrites its summary.json; nothing where it is not cheap.

    Args:
        diverged_at: (runs,) the update at which each run diverged, -1 if it did not.
    """
    config = result.config
    greedy = greedy_summary(
        algo, config, result.exported, result.grid.labels(),
        np.asarray(diverged_at).reshape(len(result.grid), config.num_seeds) >= 0,
        result.summary["results"], episodes=config.eval_episodes, seed=config.seed,
    )  # fmt: skip
    if greedy is None:
        return
    result.summary["greedy_evaluation"] = greedy
    if result.run_dir is not None:
        outputs.atomic_write_json(result.run_dir / "summary.json", result.summary)


@dataclass(frozen=True)
class EvaluateArgs:
    """Greedy (deterministic) evaluation of a run folder's checkpoint."""

    run_dir: tyro.conf.Positional[str]
    """A run folder: <runs-dir>/<env-id>/<algo>/<time>."""
    episodes: int = 10
    """Episodes per run (with --video: episodes in the video, default 1)."""
    seed: int = 0
    """Seed for the evaluation episodes."""
    video: str = ""
    """Write a video of one run's greedy policy to this file (.gif or .mp4) instead of
    evaluating every run; needs the video extra (pip install 'purejaxrl[video]')."""
    run: int = 0
    """With --video: the run to show (grid point RUN // num_seeds, seed RUN % num_seeds)."""
    fps: int = 30
    """With --video: frames per second."""


def evaluate(run_dir: str | Path, episodes: int = 10, seed: int = 0) -> dict:
    """Greedy returns per grid point and seed: {"returns": (grid, seed, episode), "labels": [...]}."""
    if episodes < 1:
        raise RunFolderError(f"episodes={episodes}: must be >= 1")
    algorithm, config, record = load_run(run_dir)
    check_not_diverged(run_dir)
    spec = config.env_spec()
    exported, update = _restore(run_dir, algorithm, config, record, spec)
    act = algorithm.make_policy(config, spec)
    memory = policy_memory(algorithm, config, spec)
    returns = play_greedy(act, exported, spec, episodes, jax.random.key(seed), memory)
    returns = np.asarray(returns).reshape(len(record["grid_labels"]), record["num_seeds"], episodes)
    return {
        "returns": returns,
        "labels": record["grid_labels"],
        "update": update,
    }


def main(argv=None, prog: str = "purejaxrl-evaluate") -> None:
    """`purejaxrl evaluate RUN_DIR`, `purejaxrl-evaluate RUN_DIR`, `python -m purejaxrl.evaluate`."""
    # imported here: purejaxrl.cli imports the runner, which imports this module
    from purejaxrl.cli import tyro_parse

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = tyro_parse(EvaluateArgs, argv, prog)
        if args.video:
            from purejaxrl import video

            episodes = args.episodes if any(a.startswith("--episodes") for a in argv) else 1
            made = video.record(
                args.run_dir, args.video, episodes=episodes, seed=args.seed, fps=args.fps,
                run=args.run,
            )  # fmt: skip
            print(
                f"wrote {made['path']}: run {args.run} of {args.run_dir} (checkpoint after update "
                f"{made['update']}), {len(made['lengths'])} episode(s) of "
                f"{', '.join(map(str, made['lengths']))} frames, returns "
                f"{', '.join(f'{r:.1f}' for r in made['returns'])}"
            )
            return
        result = evaluate(args.run_dir, args.episodes, args.seed)
    except (ConfigError, CheckpointError) as error:  # RunFolderError is a ConfigError
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(
        f"greedy evaluation of {args.run_dir} (checkpoint after update {result['update']}): "
        f"{args.episodes} episodes per seed"
    )
    for label, returns in zip(result["labels"], result["returns"], strict=True):
        per_seed = returns.mean(axis=1)
        print(
            f"{label or 'default':<28} mean {returns.mean():8.1f}  "
            f"per seed: {' '.join(f'{r:.1f}' for r in per_seed)}"
        )


if __name__ == "__main__":
    main(prog="python -m purejaxrl.evaluate")
