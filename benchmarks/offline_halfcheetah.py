"""Offline AWR against behaviour cloning on HalfCheetah-v4 datasets made from our own SAC run,
scored as D4RL scores them; results in benchmarks/results/offline_halfcheetah.json and
offline_halfcheetah_curve.png.

0. The SAC run the datasets come from: `--sac-run DIR`, a run folder kept by
   `benchmarks/mujoco_offpolicy.py --algo sac --runs-dir runs` (checkpoints at each quarter of
   the run, the replay buffer in each); without it, the script first trains that run itself
   (`--sac-timesteps` env steps, `--sac-seeds` seeds, kept under `--runs-dir`), at the
   sac-halfcheetah row's settings by default, so run 0 is the same as that row's.
1. Datasets (`purejaxrl collect`, run 0 of the SAC folder), `--dataset-steps` transitions each:
   `random` (uniform actions, no run), `medium` (the checkpoint `--medium-checkpoint`, its mean
   action plus Gaussian noise of `--noise-std` half action ranges: our SAC's checkpoints keep no
   sampling policy), `medium-replay` (that checkpoint's replay buffer: everything the agent saw
   up to there) and `expert` (the newest checkpoint, the same noise).
2. D4RL's normalised score, with our own references: 100 (R - R_random) / (R_expert - R_random),
   R_random and R_expert the mean episode returns of the random and expert datasets.
3. On medium and medium-replay, BC and offline AWR (their defaults; AWR's beta `--beta`),
   `--num-seeds` seeds each and the same `--gradient-steps`, scored by greedy evaluation
   episodes in the env (envpool MuJoCo, one host pool for all runs).

    python benchmarks/offline_halfcheetah.py        # trains the SAC run too (about 11 min here)
    python benchmarks/offline_halfcheetah.py --sac-run runs/HalfCheetah-v4/sac/<time> \
        [--num-seeds 8] [--gradient-steps 10000] [--beta 1.0] [--medium-checkpoint 34]
"""

from __future__ import annotations

from pathlib import Path

import common
import mujoco_offpolicy
from awr_offline import ALGOS, plot

from purejaxrl import cli, datasets, runner
from purejaxrl.collect import CollectArgs, make_dataset

ENV_ID = "HalfCheetah-v4"


def collect(args, split: str, **fields) -> tuple[str, datasets.Dataset]:
    """Makes and saves one dataset under `<runs-dir>/datasets`; returns its path and itself."""
    out = str(Path(args.runs_dir) / "datasets" / f"{ENV_ID}-{split}")
    collect_args = CollectArgs(out=out, split=split, steps=args.dataset_steps, **fields)
    dataset = make_dataset(collect_args)
    datasets.save(out, dataset)
    return out, dataset


def normalised(score: float, references: dict) -> float:
    """D4RL's normalised score against our own random and expert references."""
    low, high = references["random"], references["expert"]
    return 100.0 * (score - low) / (high - low)


def train_sac(args) -> dict:
    """Trains the SAC run the datasets are made from (see step 0 above) and returns the record's
    entry for it: its folder and final returns."""
    settings = {"total_timesteps": args.sac_timesteps, "num_seeds": args.sac_seeds,
                "compilation_cache": ""}  # fmt: skip
    config, make_learner, algo = mujoco_offpolicy.make_config(
        "sac", ENV_ID, settings, args.runs_dir
    )
    run = runner.run(config, make_learner, algo)
    print(cli.format_table(run), flush=True)
    return common.returns_row(run, run_dir=str(run.run_dir))


def main() -> None:
    parser = common.argument_parser(
        __doc__, num_seeds=8, gradient_steps=10_000, beta=1.0, dataset_steps=100_000,
        medium_checkpoint=34, noise_std=0.1, runs_dir="runs", sac_timesteps=70_000, sac_seeds=2,
    )  # fmt: skip
    parser.add_argument(
        "--sac-run", default="", help="a kept SAC run folder (default: train one, see above)"
    )
    args = parser.parse_args()
    kept = mujoco_offpolicy.kept_checkpoints(args.sac_timesteps)
    if not args.sac_run and args.medium_checkpoint not in kept:
        parser.error(
            f"--medium-checkpoint {args.medium_checkpoint} is not a checkpoint of the SAC run to "
            f"train: with --sac-timesteps {args.sac_timesteps} they are {', '.join(map(str, kept))}"
        )
    record = {"command": common.command(args), "datasets": {}, "returns": {}}
    if not args.sac_run:
        record["sac_run"] = train_sac(args)
        args.sac_run = record["sac_run"]["run_dir"]
        common.report("sac run", record["sac_run"])
    noise = {"mode": "noise", "noise_std": args.noise_std}
    sources = {
        "random": {"mode": "random", "env_id": ENV_ID},
        "expert": {"run_dir": args.sac_run, **noise},
        "medium": {"run_dir": args.sac_run, "checkpoint": args.medium_checkpoint, **noise},
        "medium-replay": {"run_dir": args.sac_run, "checkpoint": args.medium_checkpoint,
                          "mode": "replay"},
    }  # fmt: skip
    paths, references = {}, {}
    for split, fields in sources.items():
        paths[split], dataset = collect(args, split, **fields)
        references[split] = dataset.mean_return()
        record["datasets"][split] = {
            "path": paths[split], **fields, "transitions": len(dataset),
            "episodes": int(dataset.episode_returns.size), "mean_return": dataset.mean_return(),
        }  # fmt: skip
        common.report(split, record["datasets"][split])
    record["references"] = {"random": references["random"], "expert": references["expert"]}
    curves, dataset_returns = {}, {}
    for split in ("medium", "medium-replay"):
        name = f"{ENV_ID} {split}"
        record["datasets"][split]["normalised"] = normalised(references[split], references)
        curves[name], dataset_returns[name] = {}, references[split]
        for algo, (config_cls, make_learner) in ALGOS.items():
            extra = {"beta": args.beta} if algo == "awr_offline" else {}
            config = config_cls(
                env_id=ENV_ID, dataset=paths[split], total_timesteps=args.gradient_steps,
                num_seeds=args.num_seeds, runs_dir=args.runs_dir, progress=False,
                eval_episodes=0, **extra,
            )  # fmt: skip
            run = runner.run(config, make_learner, algo)
            print(cli.format_table(run), flush=True)
            row = common.returns_row(run, run_dir=str(run.run_dir))
            row["normalised_mean"] = normalised(row["final_return_mean"], references)
            row["normalised_per_seed"] = [
                normalised(r, references) for r in row["final_return_per_seed"]
            ]
            record["returns"][f"{algo} {split}"] = row
            curves[name][algo] = (run.env_steps, run.metrics["episode_return"][0])
            common.report(algo, split, {"normalised": row["normalised_mean"]})
            common.write_record("offline_halfcheetah", record)
    plot(
        common.result_file("offline_halfcheetah_curve.png"),
        curves,
        dataset_returns,
        f"BC and offline AWR (beta {args.beta}) on HalfCheetah-v4, {args.num_seeds} seeds, 95% bands",
    )
    common.write_record("offline_halfcheetah", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
