"""MuJoCo Playground (MJX) under our PPO (needs the mjx extra); results in
benchmarks/results/mjx_<part>.json.

Two parts, one per call (`--part`):

- `speed`: at each of `--env-counts`, env steps/s of Playground's own env step vmapped
  (`jax.vmap(env.step)`, MJX's JAX implementation, no resets: the physics alone), of our adapter's
  training stack (`playground:<name>`: auto-reset, episode statistics, action clipping;
  `common.env_steps_per_second`), and PPO's training steps/s on it through the shared runner
  (`common.timed_runs`, 32 steps per env per update); medians of `--repeats`.
- `record`: the PPO record on `--env-id` (CartpoleBalance by default), `--num-seeds` seeds
  training together, with its curve, beside the task's maximum return (1000: dm_control's
  rewards are in [0, 1] per step over 1000-step episodes; `TASK_MAXIMUM`).

    python benchmarks/mjx.py --part speed [--env-counts 16 256 1024] [--repeats 1]
    python benchmarks/mjx.py --part record [--total-timesteps 2304000] [--num-seeds 4] [--num-envs 256]

PPO's settings in `record` (`RECORD_PPO`) are those of Playground's Brax PPO for the dm_control
suite (mujoco_playground/config/dm_control_suite_params.py: unroll 30, 16 epochs of 32
minibatches, gamma 0.995, lr 1e-3, entropy 0.01, observation normalisation; Brax clips no value
loss) with `--num-envs` envs instead of 2048 (a CPU), without its reward scaling of 10 (our PPO
has none), and with our PPO's networks (64x64 tanh) and policy clip (0.2). The defaults give the
CPU record: `--total-timesteps` is a multiple of 1000 steps per env, so that the last episodes end
in the last 5% of updates (no episode terminates, and all envs start together).
"""

from __future__ import annotations

import argparse
import dataclasses

import common

RECORD_PPO = dict(
    num_steps=30, update_epochs=16, num_minibatches=32, gamma=0.995, lr=1e-3, ent_coef=0.01,
    normalize_observations=True,
)  # fmt: skip
"""Playground's dm_control Brax PPO settings that our PPO has (see the module docstring); Brax's
value loss is not clipped, hence `--no-clip-value-loss` by default."""


def playground_steps_per_second(name: str, num_envs: int, steps: int, repeats: int) -> float:
    """Env steps/s of Playground's own `env.step` vmapped over `num_envs` envs (impl="jax"),
    uniformly random actions in [-1, 1], `steps` steps in one jitted scan, no resets."""
    import jax
    from mujoco_playground import registry

    env = registry.load(name, config_overrides={"impl": "jax"})

    def rollout(key):
        keys = jax.random.key_data(jax.random.split(key, num_envs))
        state = jax.vmap(env.reset)(keys)

        def step(state, key):
            action = jax.random.uniform(key, (num_envs, env.action_size), minval=-1, maxval=1)
            state = jax.vmap(env.step)(state, action)
            return state, state.reward.sum()

        return jax.lax.scan(step, state, jax.random.split(key, steps))[1].sum()

    return common.rollout_steps_per_second(rollout, num_envs * steps, repeats)


def speed(args) -> dict:
    from purejaxrl import ppo

    name = args.env_id.removeprefix("playground:")
    rows = []
    for num_envs in args.env_counts:
        config = ppo.Config(
            env_id=args.env_id, num_envs=num_envs, num_steps=32, num_minibatches=4,
            total_timesteps=num_envs * 32 * 4, num_seeds=1, progress=False,
            compilation_cache="", eval_episodes=0,
        )  # fmt: skip
        trained = common.timed_runs(config, ppo.make_learner, "ppo", args.repeats)
        row = {
            "num_envs": num_envs,
            "playground_step_per_second": playground_steps_per_second(
                name, num_envs, 128, args.repeats
            ),
            "adapter_steps_per_second": common.env_steps_per_second(
                args.env_id, num_envs, 128, args.repeats
            ),
            "ppo_steps_per_second": trained["steps_per_second"],
            "ppo_compile_time_s": trained["compile_time_s"],
            "ppo_run_times_s": trained["run_times_s"],
        }
        common.report(args.env_id, row)
        rows.append(row)
    return {"env_id": args.env_id, "repeats": args.repeats, "results": rows}


TASK_MAXIMUM = {
    "return": 1000,
    "source": "dm_control's rewards are in [0, 1] per step over 1000-step episodes; Playground's "
    "maintainers: 'The DM Control Envs have standardized rewards (max 1000 per episode)' "
    "(github.com/google-deepmind/mujoco_playground issue 135). No per-task PPO figure for "
    "CartpoleBalance was found in text form (the technical report, arXiv 2502.08844, plots curves)",
}
"""What the record is set beside."""


def record(args) -> dict:
    from purejaxrl import cli, ppo, runner
    from purejaxrl.outputs import plot_curves

    config = ppo.Config(
        env_id=args.env_id, num_envs=args.num_envs, clip_value_loss=args.clip_value_loss,
        **common.run_settings(args), **RECORD_PPO,
    )  # fmt: skip
    result = runner.run(config, ppo.make_learner, "ppo", write=False)
    print(cli.format_table(result), flush=True)
    plot_curves(
        common.result_file(f"{args.out}_curve.png"),
        [result.env_steps],
        [result.metrics["episode_return"][0]],
        ["PPO"],
        f"PPO {args.env_id}, {args.num_seeds} seeds (MJX on a CPU)",
    )
    row = common.returns_row(
        result,
        steps_per_second=result.summary["steps_per_second"],
        greedy=result.summary.get("greedy_evaluation"),
    )
    return {
        "config": dataclasses.asdict(config),
        "results": {"ppo": row},
        "task_maximum": TASK_MAXIMUM,
    }


PARTS = {"speed": speed, "record": record}


def main() -> None:
    parser = common.argument_parser(
        __doc__, total_timesteps=2_304_000, num_seeds=4, num_envs=256, repeats=1
    )
    parser.add_argument("--part", choices=list(PARTS), required=True)
    parser.add_argument("--env-id", default="playground:CartpoleBalance")
    parser.add_argument("--env-counts", type=int, nargs="+", default=[16, 256, 1024])
    parser.add_argument("--out", default="mjx_record", help="the record's name (part record)")
    parser.add_argument(
        "--clip-value-loss", action=argparse.BooleanOptionalAction, default=False,
        help="PPO's value clipping (our default; Brax's PPO has none, hence off here)",
    )  # fmt: skip
    args = parser.parse_args()
    record_ = {"command": common.command(args), **PARTS[args.part](args)}
    common.write_record(args.out if args.part == "record" else f"mjx_{args.part}", record_)


if __name__ == "__main__":
    common.run_on_all_cores(main)
