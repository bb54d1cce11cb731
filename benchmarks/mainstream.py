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
    parser.add_argument("--out", default="mainstream", help="results/<out>.json")
    args = parser.parse_args()
    contenders = [*OURS, "Stable-Baselines3 (RL Zoo's settings)"]
    times: dict[str, dict[int, list[dict]]] = {c: {s: [] for s in args.seeds} for c in contenders}
    with tempfile.TemporaryDirectory() as workdir:
        for r in range(args.rounds):
            for seeds in args.seeds:
                for name in contenders:
                    if name in OURS:
                        row = ours(OURS[name], seeds, workdir)
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
                "greedy_return": [round(x["greedy_return"], 1) for x in rows],
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
    common.report("results", table)
    common.write_record(args.out, record)


if __name__ == "__main__":
    main()
