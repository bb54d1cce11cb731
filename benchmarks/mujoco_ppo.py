"""PPO on MuJoCo v4 tasks through envpool (HalfCheetah-v4 by default, or `--env-id Hopper-v4`) at
CleanRL's ppo_continuous_action settings (the `mujoco` suite defaults), beside CleanRL's
documented figure; results in benchmarks/results/<--out>.json and <--out>_curve.png.

    python benchmarks/mujoco_ppo.py --env-id Hopper-v4 --total-timesteps 1000000 --num-seeds 4 \
        --out mujoco_ppo_hopper_1e6_rewnorm
    python benchmarks/mujoco_ppo.py --total-timesteps 1000000 --num-seeds 4 --out mujoco_ppo_1e6 \
        --no-normalize-rewards      # the HalfCheetah records, made before reward scaling existed

`--out NAME` names the record (results/NAME.json, NAME_curve.png), so that runs at other budgets
keep the default one.

CleanRL's figure is at 1e6 steps with its learning rate annealed over 1e6; a shorter run here
anneals over its own budget (as CleanRL would, run with that --total-timesteps). CleanRL also
normalises and clips rewards, as PPO's `--normalize-rewards` does (on in the mujoco suite
defaults, hence here; `--no-normalize-rewards` turns it off).
"""

from __future__ import annotations

import argparse

import common

CLEANRL_SOURCE = (
    "CleanRL docs/benchmark/ppo_continuous_action.md (tag pr-424), the table that "
    "docs.cleanrl.dev/rl-algorithms/ppo shows for MuJoCo v4: mean +- std over seeds of the "
    "episodic return at the end of 1e6 steps"
)
CLEANRL = {
    "HalfCheetah-v4": {"return_mean": 1442.64, "return_std": 46.03},
    "Hopper-v4": {"return_mean": 2382.86, "return_std": 271.74},
}
"""CleanRL's documented figures at 1e6 steps, per task."""


def main() -> None:
    parser = common.argument_parser(__doc__, total_timesteps=300_000, num_seeds=4)
    parser.add_argument("--out", default="mujoco_ppo", help="the record's name")
    parser.add_argument("--env-id", default="HalfCheetah-v4", choices=sorted(CLEANRL))
    parser.add_argument(
        "--normalize-rewards", action=argparse.BooleanOptionalAction, default=True,
        help="PPO's reward scaling (the mujoco suite default, as CleanRL); --no-normalize-rewards "
        "gives the records made before it existed",
    )  # fmt: skip
    args = parser.parse_args()
    from purejaxrl.ppo import PPOConfig, make_learner

    config = PPOConfig.for_env(
        args.env_id, normalize_rewards=args.normalize_rewards, **common.run_settings(args)
    )
    common.run_beside_reference(
        args, config, make_learner, "ppo",
        title=f"PPO {args.env_id} (envpool), CleanRL's settings ({args.num_seeds} seeds, 95% bands)",
        reference={
            "cleanrl": {"source": CLEANRL_SOURCE, "env_steps": 1_000_000, **CLEANRL[args.env_id]}
        },
    )  # fmt: skip


if __name__ == "__main__":
    common.run_on_all_cores(main)
