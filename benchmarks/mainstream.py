"""Time to a result against Stable-Baselines3 on the same CPU; results in benchmarks/results/mainstream.json.

What a user waits for: the wall time of whole fresh processes, from launch to exit (imports,
compilation, training, the final greedy evaluation), for one seed and for eight, with the final
greedy return each reached (mean over seeds of 10 deterministic episodes; 500 is CartPole's
maximum). Rounds alternate the contenders; medians over `--rounds`.

    ours, PureJaxRL's settings   `python -m purejaxrl ppo --env-id CartPole-v1` (5e5 steps; 4 envs
                                 x 128 steps, 4 epochs of 4 minibatches, lr 2.5e-4 annealed, ...)
    ours, RL Zoo's settings      the same CLI at RL Zoo's CartPole-v1 PPO settings (1e5 steps; 8
                                 envs x 32 steps, 20 epochs of one minibatch, lambda 0.8, gamma
                                 0.98, lr 1e-3 annealed, no entropy bonus; RL Zoo's clip range
                                 also anneals, ours stays 0.2)
    Stable-Baselines3            its PPO at RL Zoo's settings (the same, clip annealed too), one
                                 process per seed, torch on one thread, as many processes at once
                                 as there are cores; `--peer-python` is an interpreter with
                                 stable-baselines3, gymnasium and torch installed, e.g.
                                 python -m venv /tmp/sb3 && /tmp/sb3/bin/pip install torch==2.13.0
                                 stable-baselines3 gymnasium
    CleanRL (optional)           its `cleanrl/ppo.py` from a checkout (`--cleanrl-dir`) at its own
                                 defaults, which are PureJaxRL's CartPole settings (5e5 steps),
                                 one process per seed as for SB3, run by `--cleanrl-python`: an
                                 interpreter with the gymnasium it pins (0.29.1; on gymnasium 1.x
                                 it logs no episode), torch, tyro and tensorboard. It has no greedy
                                 evaluation, so its row gives the mean return of its training
                                 episodes in the last 10% of steps, and the time from its launch
                                 to the first point where its last 10 episodes average 475 or more

Our seeds run in one process, vmapped. The persistent compilation cache is off (the first call
compiles, as a first run does).

    python benchmarks/mainstream.py --peer-python /tmp/sb3/bin/python [--rounds 3]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import common

RL_ZOO_PPO = dict(
    n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
    learning_rate=1e-3, clip_range=0.2, total_timesteps=100_000,
)  # fmt: skip
"""RL Zoo's hyperparameters for PPO on CartPole-v1 (learning rate and clip range linearly
annealed to 0)."""

OURS = {
    "ours (PureJaxRL's settings)": [],
    "ours (RL Zoo's settings)": [
        "--num-envs", "8", "--num-steps", "32", "--update-epochs", "20", "--num-minibatches", "1",
        "--gae-lambda", "0.8", "--gamma", "0.98", "--lr", "1e-3", "--ent-coef", "0.0",
        "--total-timesteps", "100000",
    ],
}  # fmt: skip


def sb3_child(seed: int, out: str) -> None:
    """One Stable-Baselines3 PPO run at RL Zoo's settings, then 10 deterministic episodes."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    torch.set_num_threads(1)
    z = RL_ZOO_PPO
    env = make_vec_env("CartPole-v1", n_envs=z["n_envs"], seed=seed)

    def linear(start):
        return lambda remaining: remaining * start

    model = PPO(
        "MlpPolicy", env, n_steps=z["n_steps"], batch_size=z["batch_size"],
        gae_lambda=z["gae_lambda"], gamma=z["gamma"], n_epochs=z["n_epochs"],
        ent_coef=z["ent_coef"], learning_rate=linear(z["learning_rate"]),
        clip_range=linear(z["clip_range"]), seed=seed, device="cpu", verbose=0,
    )  # fmt: skip
    model.learn(total_timesteps=z["total_timesteps"])
    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=seed + 1000)
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    Path(out).write_text(json.dumps({"greedy_return": float(mean)}))


def sb3_seeds(python: str, seeds: int, workdir: str) -> dict:
    """Wall time of `seeds` SB3 processes, as many at once as there are cores."""

    def one(seed: int) -> float:
        out = os.path.join(workdir, f"sb3_{seed}.json")
        subprocess.run(
            [python, __file__, "--sb3-child", str(seed), out], check=True, cwd=workdir,
            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""},
        )  # fmt: skip
        return json.loads(Path(out).read_text())["greedy_return"]

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        returns = list(pool.map(one, range(seeds)))
    return {"wall_s": time.perf_counter() - start, "greedy_return": statistics.fmean(returns)}


CLEANRL_STEPS = 500_000
"""CleanRL ppo.py's default `total_timesteps`, passed explicitly."""


def cleanrl_child(python: str, script: str, seed: int, workdir: str) -> dict:
    """One CleanRL ppo.py process: its wall time, the mean return of its training episodes in the
    last 10% of steps, and the seconds from launch until its last 10 episodes averaged >= 475."""
    command = [
        python, script, "--seed", str(seed), "--env-id", "CartPole-v1",
        "--total-timesteps", str(CLEANRL_STEPS), "--no-cuda",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
    start = time.perf_counter()
    episodes, reached = [], None  # (global step, return)
    with subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as child:
        for line in child.stdout:
            if line.startswith("global_step=") and "episodic_return=" in line:
                step = int(line.split(",")[0].split("=")[1])
                value = float(line.split("episodic_return=")[1].strip().strip("[]"))
                episodes.append((step, value))
                last = [r for _, r in episodes[-10:]]
                if reached is None and len(last) == 10 and statistics.fmean(last) >= 475:
                    reached = time.perf_counter() - start
    wall = time.perf_counter() - start
    if child.returncode or not episodes:
        raise SystemExit(f"mainstream.py: {' '.join(command)} failed or logged no episode")
    tail = [r for step, r in episodes if step >= 0.9 * CLEANRL_STEPS]
    return {"wall_s": wall, "final_return": statistics.fmean(tail), "time_to_475_s": reached}


def cleanrl_seeds(python: str, script: str, seeds: int, workdir: str) -> dict:
    """Wall time of `seeds` CleanRL processes, as many at once as there are cores."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        rows = list(pool.map(lambda s: cleanrl_child(python, script, s, workdir), range(seeds)))
    reached = [r["time_to_475_s"] for r in rows]
    return {
        "wall_s": time.perf_counter() - start,
        "final_return": statistics.fmean(r["final_return"] for r in rows),
        "seeds_reaching_475": sum(t is not None for t in reached),
        "time_to_475_s_per_seed": [None if t is None else round(t, 1) for t in reached],
    }


def ours(flags: list[str], seeds: int, workdir: str) -> dict:
    runs = os.path.join(workdir, "runs")
    command = [
        sys.executable, "-m", "purejaxrl", "ppo", "--env-id", "CartPole-v1", "--num-seeds",
        str(seeds), "--compilation-cache", "", "--no-progress", "--runs-dir", runs, *flags,
    ]  # fmt: skip
    start = time.perf_counter()
    printed = subprocess.run(command, check=True, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    folder = printed.stdout.rsplit("outputs: ", 1)[1].split()[0]
    summary = json.loads((Path(folder) / "summary.json").read_text())
    greedy = summary["greedy_evaluation"]["results"][0]["greedy_return_mean"]
    return {
        "wall_s": wall,
        "greedy_return": greedy,
        "compile_s": summary["compile_time_s"],
        "run_s": summary["run_time_s"],
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--sb3-child":
        sb3_child(int(sys.argv[2]), sys.argv[3])
        return
    parser = common.argument_parser(__doc__, rounds=3)
    parser.add_argument("--peer-python", required=True, help="a Python with stable-baselines3")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--cleanrl-dir", default="", help="a CleanRL checkout (optional)")
    parser.add_argument(
        "--cleanrl-python", default="", help="a Python with gymnasium==0.29.1, torch, tyro"
    )
    parser.add_argument("--out", default="mainstream", help="results/<out>.json")
    args = parser.parse_args()
    contenders = [*OURS, "Stable-Baselines3 (RL Zoo's settings)"]
    cleanrl = "CleanRL ppo.py (its defaults)"
    if args.cleanrl_dir:
        script = str(Path(args.cleanrl_dir).resolve() / "cleanrl" / "ppo.py")
        if not Path(script).exists() or not args.cleanrl_python:
            parser.error(f"--cleanrl-dir needs {script} and --cleanrl-python")
        contenders.append(cleanrl)
    times: dict[str, dict[int, list[dict]]] = {c: {s: [] for s in args.seeds} for c in contenders}
    with tempfile.TemporaryDirectory() as workdir:
        for r in range(args.rounds):
            for seeds in args.seeds:
                for name in contenders:
                    if name in OURS:
                        row = ours(OURS[name], seeds, workdir)
                    elif name == cleanrl:
                        row = cleanrl_seeds(args.cleanrl_python, script, seeds, workdir)
                    else:
                        row = sb3_seeds(args.peer_python, seeds, workdir)
                    times[name][seeds].append(row)
                    common.report(f"round {r + 1}, {seeds} seed(s), {name}", row)
    table = {}
    for name in contenders:
        for seeds in args.seeds:
            rows = times[name][seeds]
            table.setdefault(name, {})[f"{seeds} seeds"] = {
                "wall_s_median": round(statistics.median(x["wall_s"] for x in rows), 1),
                "wall_s": [round(x["wall_s"], 1) for x in rows],
                **{
                    key: [x[key] if key.endswith("per_seed") else round(x[key], 1) for x in rows]
                    for key in ("greedy_return", "final_return", "seeds_reaching_475",
                                "time_to_475_s_per_seed")
                    if key in rows[0]
                },
                **(
                    {"compile_s": [round(x["compile_s"], 1) for x in rows],
                     "run_s": [round(x["run_s"], 1) for x in rows]}
                    if "compile_s" in rows[0] else {}
                ),
            }  # fmt: skip
    peer = subprocess.run(
        [args.peer_python, "-c", "import stable_baselines3, torch, gymnasium as g; "
         "print(stable_baselines3.__version__, torch.__version__, g.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    record = {
        "command": common.command(args),
        "rl_zoo_ppo": RL_ZOO_PPO,
        "ours_flags": OURS,
        "peer_versions": dict(zip(("stable_baselines3", "torch", "gymnasium"), peer, strict=True)),
        "cores": os.cpu_count(),
        "results": table,
    }
    if args.cleanrl_dir:
        commit = subprocess.run(
            ["git", "-C", args.cleanrl_dir, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        versions = subprocess.run(
            [args.cleanrl_python, "-c", "import torch, gymnasium as g; "
             "print(torch.__version__, g.__version__)"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        record["cleanrl"] = {
            "commit": commit or None,
            **dict(zip(("torch", "gymnasium"), versions, strict=True)),
        }
    common.report("results", table)
    common.write_record(args.out, record)


if __name__ == "__main__":
    main()
