"""Time to a result against Stable-Baselines3 and CleanRL on the same CPU; results in
benchmarks/results/mainstream.json (PPO on CartPole), mainstream_dqn.json, mainstream_sac.json,
mainstream_ppo_acrobot.json and mainstream_ppo_pendulum.json.

What a user waits for: the wall time of whole fresh processes, from launch to exit (imports,
compilation, training, the final greedy evaluation), for one seed and for eight, with the return
each reached and the time and env steps each seed took to a target return: 475 on CartPole-v1
(500 is the maximum), -100 on Acrobot-v1 (gymnasium's threshold), -200 on Pendulum-v1. Rounds
alternate the contenders; medians over `--rounds`. `--algo` picks the case:

    ppo  ours at PureJaxRL's settings    `python -m purejaxrl ppo --env-id CartPole-v1` (5e5 steps;
                                         4 envs x 128 steps, 4 epochs of 4 minibatches, lr 2.5e-4
                                         annealed, ...)
         ours at RL Zoo's settings       the same CLI at RL Zoo's CartPole-v1 PPO settings (1e5
                                         steps; 8 envs x 32 steps, 20 epochs of one minibatch,
                                         lambda 0.8, gamma 0.98, lr 1e-3 annealed, no entropy
                                         bonus; RL Zoo's clip range also anneals, ours stays 0.2)
         Stable-Baselines3               its PPO at RL Zoo's settings (the same, clip annealed too)
         CleanRL (optional)              its `cleanrl/ppo.py` at its defaults, which are PureJaxRL's
                                         CartPole settings (5e5 steps)
    dqn  ours at its defaults            `python -m purejaxrl dqn --env-id CartPole-v1` (5e5 steps;
                                         CleanRL's dqn.py settings but 10 envs: 120-84 MLP, Adam
                                         2.5e-4, replay 1e4, batch 128, a gradient step every 10
                                         env steps after 1e4, target copied every 500, epsilon 1 to
                                         0.05 over half the run)
         ours at RL Zoo's settings       RL Zoo's CartPole-v1 DQN settings (5e4 steps; 1 env, 256-256
                                         MLP, lr 2.3e-3, replay 1e5, batch 64, 128 gradient steps
                                         every 256 env steps after 1e3, the target copied before
                                         each such phase, epsilon 1 to 0.04 over 16% of the run)
         Stable-Baselines3               its DQN at RL Zoo's settings
         CleanRL (optional)              its `cleanrl/dqn.py` at its defaults (5e5 steps, 1 env)
    sac  ours at its defaults            `python -m purejaxrl sac --env-id Pendulum-v1` (2e4 steps;
                                         64-64 networks, a gradient step per 2 env steps after
                                         1e3, learning rates 1e-3, temperature learned from 1)
         ours at RL Zoo's settings       256-256 networks, a gradient step per env step after 100
         Stable-Baselines3               its SAC at RL Zoo's Pendulum-v1 settings (2e4 steps; its
                                         defaults, learning rate 1e-3)
         CleanRL (optional)              its `cleanrl/sac_continuous_action.py` at its defaults
                                         (256-256, actor lr 3e-4, critic 1e-3, 5e3 random steps
                                         first) but the budget, 2e4 steps
    ppo-acrobot  PPO on Acrobot-v1, 5e5 steps each (RL Zoo's budget is 1e6)
         ours at PureJaxRL's settings    `python -m purejaxrl ppo --env-id Acrobot-v1`
         ours at RL Zoo's settings       16 envs x 256 steps, 4 epochs of 64 minibatches, lambda
                                         0.94, lr 3e-4 constant, no entropy bonus, observations
                                         and rewards normalised by running statistics
         Stable-Baselines3               its PPO at RL Zoo's settings (VecNormalize)
         CleanRL (optional)              its `cleanrl/ppo.py` at its defaults
    ppo-pendulum  PPO on Pendulum-v1 (no CleanRL contender: its continuous PPO script's
                                         defaults are MuJoCo's, 1e6 steps of one env)
         ours at ppo_pendulum.py's       16 envs x 256 steps, 10 epochs of 32 minibatches, lr 1e-3
         settings                        annealed, gamma 0.95, no entropy bonus, 1e6 steps
         ours at RL Zoo's settings       4 envs x 1024 steps, 10 epochs of 64 minibatches, gamma
                                         0.9, lr 1e-3 constant, 1e5 steps; without RL Zoo's
                                         state-dependent exploration (gSDE), which ours lacks
         Stable-Baselines3               its PPO at RL Zoo's settings, gSDE on (1e5 steps)

Ours runs its seeds in one process, vmapped, with the persistent compilation cache off (the first
call compiles, as a first run does), and once more at its defaults with the cache on and filled by
an untimed run of the same command before the rounds (what every later run of a configuration
waits: the cache is on by default). The peers run one process per seed, torch on one thread, as
many processes at once as there are cores. `--peer-python` is an interpreter with
stable-baselines3, gymnasium and torch, e.g. `python -m venv /tmp/sb3 && /tmp/sb3/bin/pip install
torch==2.13.0 stable-baselines3 gymnasium`. `--cleanrl-dir` is a CleanRL checkout and
`--cleanrl-python` an interpreter with the gymnasium CleanRL pins (0.29.1; on gymnasium 1.x its
scripts log no episode), numpy below 2 (gymnasium 0.29.1's Acrobot uses `np.float_`), torch, tyro
and tensorboard.

Returns: ours and SB3 end with 10 greedy (deterministic) episodes per seed; CleanRL has no greedy
evaluation, so its row gives the mean return of its training episodes in the last 10% of steps.
Time to the target: per seed, the first env step at which its last 10 training episodes
averaged the target or more (ours: the episodes of the fewest latest updates that hold at least
10, from the run's metrics), and the seconds from the launch of the seeds until then: for SB3 a
callback's clock, for CleanRL the moment it prints the episode, for ours the wall time of that
update's TensorBoard event (ours reports between compiled chunks of 1% of the run, so that is
when a user watching it could first see it). With 8 seeds, `time_to_target_all_seeds_s` is the
time until every seed had.

    python benchmarks/mainstream.py --peer-python /tmp/sb3/bin/python [--algo CASE] [--rounds 3] \\
        [--cleanrl-dir <checkout> --cleanrl-python <python>]
"""

from __future__ import annotations

import dataclasses
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
    learning_rate=1e-3, clip_range=0.2, anneal=True, total_timesteps=100_000,
)  # fmt: skip
"""RL Zoo's hyperparameters for PPO on CartPole-v1 (`anneal`: learning rate and clip range
linearly annealed to 0)."""

RL_ZOO_PPO_ACROBOT = dict(
    n_envs=16, n_steps=256, batch_size=64, gae_lambda=0.94, gamma=0.99, n_epochs=4, ent_coef=0.0,
    learning_rate=3e-4, clip_range=0.2, normalize=True, total_timesteps=500_000,
)  # fmt: skip
"""RL Zoo's hyperparameters for PPO on Acrobot-v1 (`normalize`: observations and rewards by
running statistics, VecNormalize), but half its budget of 1e6 steps: 5e5, as every contender here."""

RL_ZOO_PPO_PENDULUM = dict(
    n_envs=4, n_steps=1024, batch_size=64, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0,
    learning_rate=1e-3, clip_range=0.2, use_sde=True, sde_sample_freq=4, total_timesteps=100_000,
)  # fmt: skip
"""RL Zoo's hyperparameters for PPO on Pendulum-v1: generalised state-dependent exploration
(gSDE, Raffin et al. 2022; noise weights resampled every 4 steps), which ours does not have."""

RL_ZOO_DQN = dict(
    n_envs=1, learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1_000,
    gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128,
    exploration_fraction=0.16, exploration_final_eps=0.04, net_arch=[256, 256],
    total_timesteps=50_000,
)  # fmt: skip
"""RL Zoo's hyperparameters for DQN on CartPole-v1 (`target_update_interval` counts env steps,
so the target equals the online network at the start of every 128-step training phase)."""

RL_ZOO_SAC = dict(n_envs=1, learning_rate=1e-3, total_timesteps=20_000)
"""RL Zoo's hyperparameters for SAC on Pendulum-v1: SB3's defaults (256-256 networks, batch 256,
a gradient step per env step after 100, tau 0.005, the temperature learned from 1) but the
learning rate and the budget."""


@dataclasses.dataclass(frozen=True)
class Case:
    """One algorithm on one env: our CLI runs (name -> flags) and the peers' settings."""

    algo: str
    """Our CLI's algorithm."""
    out: str
    """The record: results/<out>.json."""
    env_id: str
    target: float
    """The return whose first crossing is timed."""
    ours: dict[str, list[str]]
    sb3: dict
    cleanrl_script: str = ""
    """The script under the CleanRL checkout's `cleanrl/`; empty: no CleanRL contender."""
    cleanrl_steps: int = 0
    """The `total_timesteps` passed to CleanRL's script."""


CASES = {
    "ppo": Case(
        "ppo", "mainstream", "CartPole-v1", 475.0,
        ours={
            "ours (PureJaxRL's settings)": [],
            "ours (RL Zoo's settings)": [
                "--num-envs", "8", "--num-steps", "32", "--update-epochs", "20",
                "--num-minibatches", "1", "--gae-lambda", "0.8", "--gamma", "0.98", "--lr", "1e-3",
                "--ent-coef", "0.0", "--total-timesteps", "100000",
            ],
        },
        sb3=RL_ZOO_PPO,
        cleanrl_script="ppo.py",
        cleanrl_steps=500_000,
    ),
    "dqn": Case(
        "dqn", "mainstream_dqn", "CartPole-v1", 475.0,
        ours={
            "ours (its defaults)": [],
            "ours (RL Zoo's settings)": [
                "--num-envs", "1", "--hidden-sizes", "256", "256", "--lr", "2.3e-3",
                "--buffer-size", "100000", "--batch-size", "64", "--learning-starts", "1000",
                "--train-frequency", "256", "--gradient-steps", "128",
                "--target-update-interval", "256", "--steps-per-update", "1280",
                "--epsilon-end", "0.04", "--epsilon-anneal-steps", "8000",
                "--total-timesteps", "50000",
            ],
        },
        sb3=RL_ZOO_DQN,
        cleanrl_script="dqn.py",
        cleanrl_steps=500_000,
    ),
    "sac": Case(
        "sac", "mainstream_sac", "Pendulum-v1", -200.0,
        ours={
            "ours (its defaults)": [],
            "ours (RL Zoo's settings)": [
                "--hidden-sizes", "256", "256", "--train-frequency", "1", "--learning-starts", "100",
            ],
        },
        sb3=RL_ZOO_SAC,
        cleanrl_script="sac_continuous_action.py",
        cleanrl_steps=20_000,
    ),
    "ppo-acrobot": Case(
        "ppo", "mainstream_ppo_acrobot", "Acrobot-v1", -100.0,
        ours={
            "ours (PureJaxRL's settings)": [],
            "ours (RL Zoo's settings)": [
                "--num-envs", "16", "--num-steps", "256", "--update-epochs", "4",
                "--num-minibatches", "64", "--gae-lambda", "0.94", "--lr", "3e-4",
                "--no-anneal-lr", "--ent-coef", "0.0", "--normalize-observations",
                "--normalize-rewards",
            ],
        },
        sb3=RL_ZOO_PPO_ACROBOT,
        cleanrl_script="ppo.py",
        cleanrl_steps=500_000,
    ),
    "ppo-pendulum": Case(
        "ppo", "mainstream_ppo_pendulum", "Pendulum-v1", -200.0,
        ours={
            "ours (benchmarks/ppo_pendulum.py's settings)": [
                "--num-envs", "16", "--num-steps", "256", "--update-epochs", "10",
                "--num-minibatches", "32", "--lr", "1e-3", "--gamma", "0.95", "--ent-coef",
                "0.0", "--total-timesteps", "1000000",
            ],
            "ours (RL Zoo's settings, no gSDE)": [
                "--num-envs", "4", "--num-steps", "1024", "--update-epochs", "10",
                "--num-minibatches", "64", "--gamma", "0.9", "--lr", "1e-3", "--no-anneal-lr",
                "--ent-coef", "0.0", "--total-timesteps", "100000",
            ],
        },
        sb3=RL_ZOO_PPO_PENDULUM,
    ),
}  # fmt: skip


WINDOW = 10
"""Training episodes whose mean return is compared with the target."""


def window_reached(returns: list[float], target: float) -> bool:
    """Whether the last WINDOW of a run's episode `returns` average `target` or more."""
    return len(returns) >= WINDOW and statistics.fmean(returns[-WINDOW:]) >= target


def sb3_child(name: str, seed: int, out: str) -> None:
    """One Stable-Baselines3 run at RL Zoo's settings, then 10 deterministic episodes; records when
    (env step and wall clock) its last 10 training episodes first averaged the case's target."""
    import torch
    from stable_baselines3 import DQN, PPO, SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    class Crossing(BaseCallback):
        def __init__(self):
            super().__init__()
            self.returns, self.reached = [], None

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info and self.reached is None:
                    self.returns.append(float(info["episode"]["r"]))
                    if window_reached(self.returns, case.target):
                        self.reached = (self.num_timesteps, time.time())
            return True

    torch.set_num_threads(1)
    case = CASES[name]
    z = case.sb3
    env = make_vec_env(case.env_id, n_envs=z["n_envs"], seed=seed)
    if z.get("normalize"):
        env = VecNormalize(env, gamma=z["gamma"])

    def schedule(start):
        """SB3's value for a rate: annealed linearly to 0 when the case says so, else constant."""
        return (lambda remaining: remaining * start) if z.get("anneal") else start

    if case.algo == "ppo":
        model = PPO(
            "MlpPolicy", env, n_steps=z["n_steps"], batch_size=z["batch_size"],
            gae_lambda=z["gae_lambda"], gamma=z["gamma"], n_epochs=z["n_epochs"],
            ent_coef=z["ent_coef"], learning_rate=schedule(z["learning_rate"]),
            clip_range=schedule(z["clip_range"]), use_sde=z.get("use_sde", False),
            sde_sample_freq=z.get("sde_sample_freq", -1), seed=seed, device="cpu", verbose=0,
        )  # fmt: skip
    elif case.algo == "sac":
        model = SAC(
            "MlpPolicy", env, learning_rate=z["learning_rate"], seed=seed, device="cpu", verbose=0
        )
    else:
        model = DQN(
            "MlpPolicy", env, learning_rate=z["learning_rate"], batch_size=z["batch_size"],
            buffer_size=z["buffer_size"], learning_starts=z["learning_starts"], gamma=z["gamma"],
            target_update_interval=z["target_update_interval"], train_freq=z["train_freq"],
            gradient_steps=z["gradient_steps"], exploration_fraction=z["exploration_fraction"],
            exploration_final_eps=z["exploration_final_eps"],
            policy_kwargs=dict(net_arch=z["net_arch"]), seed=seed, device="cpu", verbose=0,
        )  # fmt: skip
    crossing = Crossing()
    model.learn(total_timesteps=z["total_timesteps"], callback=crossing)
    eval_env = make_vec_env(case.env_id, n_envs=1, seed=seed + 1000)
    if z.get("normalize"):  # the training statistics, frozen; raw rewards
        eval_env = VecNormalize(eval_env, training=False, norm_reward=False)
        eval_env.obs_rms = env.obs_rms
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    steps, when = crossing.reached or (None, None)
    row = {"greedy_return": float(mean), "steps_to_target": steps, "reached_at": when}
    Path(out).write_text(json.dumps(row))


def peers_in_parallel(one, seeds: int) -> tuple[float, list[dict]]:
    """Wall time of `one(seed)` for every seed, as many at once as there are cores, and its rows."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        rows = list(pool.map(one, range(seeds)))
    return time.perf_counter() - start, rows


def crossings(rows: list[dict], launched: float) -> dict:
    """Per seed, the env steps to the target and the seconds from `launched` (time.time() when the
    seeds were launched) to it (`reached_at`, a time.time()); and the seconds until every seed had
    reached it (None if one never did)."""
    times = [None if r["reached_at"] is None else r["reached_at"] - launched for r in rows]
    return {
        "seeds_reaching_target": sum(t is not None for t in times),
        "steps_to_target_per_seed": [r["steps_to_target"] for r in rows],
        "time_to_target_s_per_seed": [None if t is None else round(t, 1) for t in times],
        "time_to_target_all_seeds_s": None if None in times else max(times),
    }


def peer_env() -> dict:
    """A peer process's environment: one torch/OpenMP thread, unbuffered output (its lines are
    timed as they come), none of our Python path."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": ""}


def sb3_seeds(name: str, python: str, seeds: int, workdir: str) -> dict:
    def one(seed: int) -> dict:
        out = os.path.join(workdir, f"sb3_{seed}.json")
        subprocess.run(
            [python, __file__, "--sb3-child", name, str(seed), out], check=True, cwd=workdir,
            env=peer_env(),
        )  # fmt: skip
        return json.loads(Path(out).read_text())

    launched = time.time()
    wall, rows = peers_in_parallel(one, seeds)
    return {
        "wall_s": wall,
        "greedy_return": statistics.fmean(r["greedy_return"] for r in rows),
        **crossings(rows, launched),
    }


def cleanrl_child(case: Case, python: str, script: str, seed: int, workdir: str) -> dict:
    """One CleanRL process: its wall time, the mean return of its training episodes in the last
    10% of steps, and when its last 10 episodes first averaged the target. The checkout is its Python
    path (dqn.py imports the checkout's `cleanrl_utils`)."""
    command = [
        python, script, "--seed", str(seed), "--env-id", case.env_id,
        "--total-timesteps", str(case.cleanrl_steps), "--no-cuda",
    ]  # fmt: skip
    start = time.perf_counter()
    steps, returns, reached = [], [], None
    env = {**peer_env(), "PYTHONPATH": str(Path(script).parents[1])}
    with subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as child:
        for line in child.stdout:
            if line.startswith("global_step=") and "episodic_return=" in line:
                steps.append(int(line.split(",")[0].split("=")[1]))
                returns.append(float(line.split("episodic_return=")[1].strip().strip("[]")))
                if reached is None and window_reached(returns, case.target):
                    reached = (steps[-1], time.time())
    wall = time.perf_counter() - start
    if child.returncode or not steps:
        raise SystemExit(f"mainstream.py: {' '.join(command)} failed or logged no episode")
    tail = [r for s, r in zip(steps, returns, strict=True) if s >= 0.9 * case.cleanrl_steps]
    return {
        "wall_s": wall,
        "final_return": statistics.fmean(tail),
        "steps_to_target": None if reached is None else reached[0],
        "reached_at": None if reached is None else reached[1],
    }


def cleanrl_seeds(case: Case, python: str, script: str, seeds: int, workdir: str) -> dict:
    launched = time.time()
    wall, rows = peers_in_parallel(lambda s: cleanrl_child(case, python, script, s, workdir), seeds)
    return {
        "wall_s": wall,
        "final_return": statistics.fmean(r["final_return"] for r in rows),
        **crossings(rows, launched),
    }


def ours(case: Case, flags: list[str], seeds: int, workdir: str, cache: str = "") -> dict:
    """One run of our CLI; `cache`: its persistent compilation cache (empty: off)."""
    runs = os.path.join(workdir, "runs")
    command = [
        sys.executable, "-m", "purejaxrl", case.algo, "--env-id", case.env_id, "--num-seeds",
        str(seeds), "--compilation-cache", cache, "--no-progress", "--runs-dir", runs, *flags,
    ]  # fmt: skip
    launched, start = time.time(), time.perf_counter()
    printed = subprocess.run(command, check=True, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - start
    folder = Path(printed.stdout.rsplit("outputs: ", 1)[1].split()[0])
    summary = json.loads((folder / "summary.json").read_text())
    return {
        "wall_s": wall,
        "greedy_return": summary["greedy_evaluation"]["results"][0]["greedy_return_mean"],
        "compile_s": summary["compile_time_s"],
        "run_s": summary["run_time_s"],
        **crossings(ours_crossings(folder, case.target), launched),
    }


def ours_crossings(folder: Path, target: float) -> list[dict]:
    """Per seed of our run in `folder`, the env step at which its last 10 or more training episodes
    (those of the fewest latest updates holding at least 10) first averaged `target`, and when
    (time.time()) that update's metrics were written to TensorBoard: when a user watching the run
    could first see it."""
    import numpy as np
    from tensorboard.backend.event_processing import event_accumulator

    with np.load(folder / "metrics.npz") as metrics:  # (grid, seed, update)
        returns, counts = metrics["episode_return"][0], metrics["episodes"][0]
        env_steps = metrics["env_steps"]
    events = event_accumulator.EventAccumulator(
        str(folder / "tensorboard"), size_guidance={event_accumulator.SCALARS: 0}
    )
    events.Reload()
    written = {e.step: e.wall_time for e in events.Scalars("episodes/mean")}
    rows = []
    for seed_returns, seed_counts in zip(returns, counts, strict=True):
        sums = np.where(seed_counts > 0, seed_returns * seed_counts, 0.0)
        row = {"steps_to_target": None, "reached_at": None}
        for u in range(len(seed_counts)):
            n = total = 0.0
            for v in range(u, -1, -1):  # back from update u until WINDOW episodes are covered
                n, total = n + seed_counts[v], total + sums[v]
                if n >= WINDOW:
                    break
            if n >= WINDOW and total / n >= target:
                step = int(env_steps[u])
                row = {"steps_to_target": step, "reached_at": written[step]}
                break
        rows.append(row)
    return rows


def median_row(rows: list[dict]) -> dict:
    """The rounds of one contender and seed count: the median wall time, every round's figures."""
    row = {
        "wall_s_median": round(statistics.median(x["wall_s"] for x in rows), 1),
        "wall_s": [round(x["wall_s"], 1) for x in rows],
    }
    for key in rows[0]:
        if key == "wall_s":
            continue
        row[key] = [round(x[key], 1) if isinstance(x[key], float) else x[key] for x in rows]
    return row


def versions(python: str, modules: str) -> list[str]:
    """`__version__` of each of the comma-separated `modules` in the interpreter `python`."""
    code = f"import {modules}; print(*(m.__version__ for m in ({modules},)))"
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--sb3-child":
        sb3_child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    parser = common.argument_parser(__doc__, rounds=3)
    parser.add_argument("--algo", choices=list(CASES), default="ppo")
    parser.add_argument("--peer-python", required=True, help="a Python with stable-baselines3")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--cleanrl-dir", default="", help="a CleanRL checkout (optional)")
    parser.add_argument(
        "--cleanrl-python", default="", help="a Python with gymnasium==0.29.1, numpy<2, torch, tyro"
    )
    parser.add_argument("--out", default="", help="results/<out>.json (default: the case's)")
    args = parser.parse_args()
    case = CASES[args.algo]
    sb3 = "Stable-Baselines3 (RL Zoo's settings)"
    cleanrl = f"CleanRL {case.cleanrl_script} (its defaults)"
    defaults = next(iter(case.ours))
    warm = defaults[:-1] + ", compilation cache warm)"
    contenders = [*case.ours, warm, sb3]
    if args.cleanrl_dir and not case.cleanrl_script:
        parser.error(f"--cleanrl-dir: case {args.algo} has no CleanRL contender")
    if args.cleanrl_dir:
        script = str(Path(args.cleanrl_dir).resolve() / "cleanrl" / case.cleanrl_script)
        if not Path(script).exists() or not args.cleanrl_python:
            parser.error(f"--cleanrl-dir needs {script} and --cleanrl-python")
        contenders.append(cleanrl)
    times: dict[str, dict[int, list[dict]]] = {c: {s: [] for s in args.seeds} for c in contenders}
    with tempfile.TemporaryDirectory() as workdir:
        cache = os.path.join(workdir, "jax-cache")
        for seeds in args.seeds:  # fills the cache of the warm contender, untimed
            ours(case, case.ours[defaults], seeds, workdir, cache)
        for r in range(args.rounds):
            for seeds in args.seeds:
                for name in contenders:
                    if name in case.ours:
                        row = ours(case, case.ours[name], seeds, workdir)
                    elif name == warm:
                        row = ours(case, case.ours[defaults], seeds, workdir, cache)
                    elif name == cleanrl:
                        row = cleanrl_seeds(case, args.cleanrl_python, script, seeds, workdir)
                    else:
                        row = sb3_seeds(args.algo, args.peer_python, seeds, workdir)
                    times[name][seeds].append(row)
                    common.report(f"round {r + 1}, {seeds} seed(s), {name}", row)
    table = {
        name: {f"{seeds} seeds": median_row(times[name][seeds]) for seeds in args.seeds}
        for name in contenders
    }
    peer = versions(args.peer_python, "stable_baselines3, torch, gymnasium")
    record = {
        "command": common.command(args),
        "env_id": case.env_id,
        "target": case.target,
        f"rl_zoo_{case.algo}": case.sb3,
        "ours_flags": case.ours,
        "peer_versions": dict(zip(("stable_baselines3", "torch", "gymnasium"), peer, strict=True)),
        "cores": os.cpu_count(),
        "results": table,
    }
    if args.cleanrl_dir:
        commit = common.git("rev-parse", "--short", "HEAD", root=Path(args.cleanrl_dir))
        commit = commit and commit.strip()
        torch, gymnasium, numpy = versions(args.cleanrl_python, "torch, gymnasium, numpy")
        record["cleanrl"] = {
            "commit": commit, "torch": torch, "gymnasium": gymnasium, "numpy": numpy
        }  # fmt: skip
    common.report("results", table)
    common.write_record(args.out or case.out, record)


if __name__ == "__main__":
    main()
