"""SAC or TD3 on an envpool MuJoCo task at CleanRL's settings, beside CleanRL's figure.

HalfCheetah-v4 by default; CleanRL's sac_continuous_action / td3_continuous_action settings are
the `mujoco` suite defaults. Results in benchmarks/results/<--out>.json and <--out>_curve.png.

    python benchmarks/mujoco_offpolicy.py --algo sac --total-timesteps 70000 --num-seeds 2 \
        --out mujoco_sac_7e4 --runs-dir runs
    python benchmarks/mujoco_offpolicy.py --algo td3 --total-timesteps 50000 --num-seeds 2 \
        --out mujoco_td3_5e4

`--out NAME` names the record (default mujoco_<algo>). `--runs-dir DIR` also keeps the run folder
under DIR/<env-id>/<sac|ddpg>/<time>/ with a checkpoint at every quarter of the run, all kept:
each holds the whole learner state, replay buffer included (what an offline dataset is made of).

CleanRL documents these algorithms' figures at 1e6 steps only (its curves are plots); a shorter
run is set beside that figure, not beside a figure at its own step. Both algorithms keep their
random steps first (SAC 5,000, TD3 25,000, as CleanRL), whatever the budget.
"""

from __future__ import annotations

import common

CLEANRL_SOURCES = {
    "sac": (
        "CleanRL docs/benchmark/sac.md (tag pr-424), the table behind docs.cleanrl.dev/rl-algorithms/sac "
        "(sac_continuous_action.py, 3 seeds): mean +- std over seeds of the training episodic return "
        "at the end of 1e6 steps"
    ),
    "td3": (
        "CleanRL docs/benchmark/td3.md (tag pr-424), also in docs.cleanrl.dev/rl-algorithms/td3 "
        "(td3_continuous_action.py, 3 seeds): mean +- std over seeds of the training episodic "
        "return at the end of 1e6 steps"
    ),
}  # fmt: skip
CLEANRL = {
    "sac": {
        "HalfCheetah-v4": {"return_mean": 9634.89, "return_std": 1423.73},
        "Hopper-v4": {"return_mean": 2310.46, "return_std": 342.82},
    },
    "td3": {
        "HalfCheetah-v4": {"return_mean": 9583.22, "return_std": 126.09},
        "Hopper-v4": {"return_mean": 3134.61, "return_std": 360.18},
    },
}
"""CleanRL's documented figures at 1e6 steps, per algorithm and task."""

CHECKPOINTS = 4
"""Checkpoints a kept run folder holds, evenly spaced (the last at the end)."""


def checkpoint_every(total_timesteps: int) -> int:
    """Updates between the checkpoints of a kept run: a quarter of its updates (steps_per_update
    is 1,000 at the mujoco defaults; checkpoints are numbered by update)."""
    return max(1, total_timesteps // 1_000 // CHECKPOINTS)


def kept_checkpoints(total_timesteps: int) -> list[int]:
    """The numbers of the checkpoints a kept run of `total_timesteps` ends with: every
    `checkpoint_every` updates, and the last update's."""
    updates, every = total_timesteps // 1_000, checkpoint_every(total_timesteps)
    return sorted({*range(every, updates + 1, every), updates})


def make_config(algo: str, env_id: str, settings: dict, runs_dir: str = ""):
    """The config of `algo` ("sac" or "td3") on `env_id` at the `mujoco` suite defaults with the
    runner `settings` (budget, seeds, ...) and a progress line every ~30 s (these runs take half
    an hour on this CPU); with `runs_dir`, the run folder is kept there with a checkpoint at
    every quarter of the run, all kept. Returns (config, make_learner, runner algo name)."""
    from purejaxrl import ddpg, sac

    settings = {**settings, "progress": True}
    if runs_dir:
        settings.update(
            runs_dir=runs_dir,
            checkpoint_every=checkpoint_every(settings["total_timesteps"]),
            keep_checkpoints=CHECKPOINTS + 1,  # a last one off the quarter marks is kept too
        )
    config_cls, options, make_learner, name = {
        "sac": (sac.SACConfig, {}, sac.make_learner, "sac"),
        "td3": (ddpg.DDPGConfig, {"td3": True}, ddpg.make_learner, "ddpg"),
    }[algo]
    return config_cls.for_env(env_id, **options, **settings), make_learner, name


def main() -> None:
    parser = common.argument_parser(__doc__, total_timesteps=100_000, num_seeds=2)
    parser.add_argument("--algo", default="sac", choices=sorted(CLEANRL))
    parser.add_argument("--out", default="", help="the record's name (default mujoco_<algo>)")
    parser.add_argument("--env-id", default="HalfCheetah-v4", choices=sorted(CLEANRL["sac"]))
    parser.add_argument(
        "--runs-dir", default="", help="keep the run folder (checkpoints, replay buffer) here"
    )
    args = parser.parse_args()
    args.out = args.out or f"mujoco_{args.algo}"
    config, make_learner, algo = make_config(
        args.algo, args.env_id, common.run_settings(args), args.runs_dir
    )
    name = args.algo.upper()
    common.run_beside_reference(
        args, config, make_learner, algo,
        title=f"{name} {args.env_id} (envpool), CleanRL's settings ({args.num_seeds} seeds, 95% bands)",
        reference={
            "cleanrl": {
                "source": CLEANRL_SOURCES[args.algo],
                "env_steps": 1_000_000,
                **CLEANRL[args.algo][args.env_id],
                "at_this_step": None,  # only curves (plots) are published below 1e6
            }
        },
        write=bool(args.runs_dir),
    )  # fmt: skip


if __name__ == "__main__":
    common.run_on_all_cores(main)
