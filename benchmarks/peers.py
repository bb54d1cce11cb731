"""Ours against a PureJaxRL checkout on the same machine, side by side, alternating rounds.

    PUREJAXRL_DIR=~/src/purejaxrl PEER_PYTHONPATH=/tmp/peerlibs \
        python benchmarks/peers.py --rounds 3 --cpus 0

Every measurement is a fresh process (so the first call includes compilation, with the persistent
compilation cache off), running one workload with PureJaxRL's own `make_train` or ours
(`make_train` of the algorithm file, jitted and vmapped over seeds on one CPU device, as PureJaxRL's
README runs it; ours with `devices.compiler_options()`, the XLA options our runner compiles
with). Rounds alternate ours / peer so that a slow spell of a shared machine hits both. Reported
per workload, medians over the rounds:

    first call   wall time of trace + compile + the first run (what a user waits for)
    compiled     wall time of a second call of the compiled program (run time alone)

and ours / peer for each. `--cpus 0` pins every process to core 0 (per-core figures); without it
both use every core. The table is written to `results/peers.json` and between the `peers` markers
in `benchmarks/README.md`.

**The peer checkout is never copied here.** It needs, on today's jax 0.10 and gymnax 1.0, three
local fixes that this script applies in the peer's process at import time, without editing it:
  1. `wrappers.py` imports brax and navix (unused by these workloads): empty stand-in modules.
  2. gymnax 1.0's `step` returns (obs, state, reward, terminated, truncated, info), PureJaxRL
     expects (obs, state, reward, done, info): `ppo.py`'s envs, and gymnax's `LogWrapper` that
     `dqn.py` uses, are wrapped to return done = terminated or truncated (its own semantics).
  3. `dqn.py` calls `jax.tree_map`, removed from jax: aliased to `jax.tree.map`.
Its dependencies that we do not have go in a separate folder, passed as `PEER_PYTHONPATH`
(tfp-nightly, because tensorflow-probability 0.25 fails to import under jax 0.10):
    pip install --target /tmp/peerlibs --no-deps distrax tfp-nightly flashbax dm-tree \
        gast decorator cloudpickle
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import common

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MARK_BEGIN, MARK_END = "<!-- peers:begin -->", "<!-- peers:end -->"

# name -> (algorithm, env id, total env steps); every other setting is PureJaxRL's default for
# the algorithm, which are also ours.
WORKLOADS = {
    "ppo_cartpole": ("ppo", "CartPole-v1", 500_000),
    "dqn_cartpole": ("dqn", "CartPole-v1", 500_000),
    "ppo_breakout_minatar": ("ppo", "Breakout-MinAtar", 1_000_000),
}
PEER_PPO = {
    "LR": 2.5e-4, "NUM_ENVS": 4, "NUM_STEPS": 128, "UPDATE_EPOCHS": 4, "NUM_MINIBATCHES": 4,
    "GAMMA": 0.99, "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2, "ENT_COEF": 0.01, "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5, "ACTIVATION": "tanh", "ANNEAL_LR": True, "DEBUG": False,
}  # fmt: skip
PEER_DQN = {
    "NUM_ENVS": 10, "BUFFER_SIZE": 10_000, "BUFFER_BATCH_SIZE": 128, "EPSILON_START": 1.0,
    "EPSILON_FINISH": 0.05, "EPSILON_ANNEAL_TIME": 25e4, "TARGET_UPDATE_INTERVAL": 500,
    "LR": 2.5e-4, "LEARNING_STARTS": 10_000, "TRAINING_INTERVAL": 10, "LR_LINEAR_DECAY": False,
    "GAMMA": 0.99, "TAU": 1.0, "WANDB_MODE": "disabled",
}  # fmt: skip


def timed(make_jitted, args) -> tuple[dict, object]:
    """(times, output): the first call (trace + compile + run) and a second, compiled call, both
    wall times, and the second call's output."""
    import jax

    start = time.perf_counter()
    compiled = make_jitted().lower(*args).compile()
    compile_s = time.perf_counter() - start
    out = jax.block_until_ready(compiled(*args))
    first = time.perf_counter() - start
    start = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return {
        "first_call_s": first,
        "compile_s": compile_s,
        "compiled_s": time.perf_counter() - start,
    }, out


def child_ours(workload: str, seeds: int) -> dict:
    import jax
    import numpy as np

    from purejaxrl import dqn, ppo
    from purejaxrl.config import hparams
    from purejaxrl.devices import compiler_options

    algo, env_id, total = WORKLOADS[workload]
    module = {"ppo": ppo, "dqn": dqn}[algo]
    extra = {"torso": "mlp"} if algo == "ppo" else {}  # PureJaxRL flattens MinAtar frames
    config = module.Config(env_id=env_id, total_timesteps=total, **extra)
    hp = hparams(config)
    keys = jax.random.split(jax.random.key(0), seeds)
    train = module.make_train(config)
    options = compiler_options()  # LLVM -O2 on the CPU, as the runner compiles
    jitted = lambda: jax.jit(jax.vmap(train, in_axes=(0, None)), compiler_options=options)
    times, out = timed(jitted, (keys, hp))
    returns = np.asarray(out.metrics["episode_return"])  # (seeds, updates)
    tail = returns[:, -max(1, returns.shape[1] // 10) :]
    return {**times, "final_return": float(np.nanmean(tail))}


def child_peer(workload: str, seeds: int, peer_dir: Path) -> dict:
    import types

    for name in ("brax", "brax.envs", "brax.envs.wrappers", "brax.envs.wrappers.training", "navix"):
        sys.modules[name] = types.ModuleType(name)  # fix 1: unused imports of wrappers.py
    sys.modules["brax.envs.wrappers.training"].EpisodeWrapper = object
    sys.modules["brax.envs.wrappers.training"].AutoResetWrapper = object
    import gymnax
    import gymnax.wrappers.purerl as purerl
    import jax
    import jax.numpy as jnp
    import numpy as np

    if not hasattr(jax, "tree_map"):
        jax.tree_map = jax.tree.map  # fix 3

    def five(step):  # fix 2: gymnax 1.0's six-tuple step -> PureJaxRL's five-tuple
        def wrapped(*args, **kwargs):
            obs, state, reward, terminated, truncated, info = step(*args, **kwargs)
            return obs, state, reward, jnp.logical_or(terminated, truncated), info

        return wrapped

    algo, env_id, total = WORKLOADS[workload]
    sys.path.insert(0, str(peer_dir / "purejaxrl"))
    if algo == "ppo":
        make = gymnax.make

        class FiveTuple:
            def __init__(self, env):
                self._env = env
                self.step = five(env.step)

            def __getattr__(self, name):
                return getattr(self._env, name)

        gymnax.make = lambda *a, **k: (lambda env, params: (FiveTuple(env), params))(*make(*a, **k))
        import ppo as peer

        config = {**PEER_PPO, "ENV_NAME": env_id, "TOTAL_TIMESTEPS": total}
    else:

        class LogWrapper(purerl.LogWrapper):
            def step(self, *args, **kwargs):
                return five(super().step)(*args, **kwargs)

        purerl.LogWrapper = LogWrapper
        import dqn as peer

        config = {**PEER_DQN, "ENV_NAME": env_id, "TOTAL_TIMESTEPS": total, "NUM_SEEDS": seeds}
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    times, out = timed(lambda: jax.jit(jax.vmap(peer.make_train(config))), (keys,))
    metrics = out["metrics"]
    if algo == "ppo":  # (seeds, updates, steps, envs): mean over the episodes that ended
        ended = np.asarray(metrics["returned_episode"])
        value = np.asarray(metrics["returned_episode_returns"])
        per_update = (value * ended).sum((2, 3)) / np.maximum(ended.sum((2, 3)), 1)
    else:  # (seeds, steps): the mean of the last returns of every env at each step
        per_update = np.asarray(metrics["returns"])
    tail = per_update[:, -max(1, per_update.shape[1] // 10) :]
    return {**times, "final_return": float(np.mean(tail))}


def run_child(who: str, workload: str, seeds: int, args) -> dict:
    command = [sys.executable, __file__, "--child", who, "--workload", workload]
    command += ["--seeds", str(seeds)]
    if args.cpus:
        command = ["taskset", "-c", args.cpus, *command]
    env = {**os.environ, "JAX_PLATFORMS": args.platform, "PUREJAXRL_CPU_DEVICES": "1"}
    env.pop("XLA_FLAGS", None)
    if who == "peer":
        env["PYTHONPATH"] = os.pathsep.join(p for p in (args.peer_pythonpath, str(ROOT)) if p)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise SystemExit(f"{who} {workload} x{seeds} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = [
        "| workload | seeds | first call: peer / ours (s) | ratio | compiled: peer / ours (s) "
        "| ratio | final return: peer / ours |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workload']} | {r['seeds']} "
            f"| {r['peer']['first_call_s']:.2f} / {r['ours']['first_call_s']:.2f} "
            f"| {r['ours']['first_call_s'] / r['peer']['first_call_s']:.2f} "
            f"| {r['peer']['compiled_s']:.2f} / {r['ours']['compiled_s']:.2f} "
            f"| {r['ours']['compiled_s'] / r['peer']['compiled_s']:.2f} "
            f"| {r['peer']['final_return']:.1f} / {r['ours']['final_return']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--purejaxrl-dir", default=os.environ.get("PUREJAXRL_DIR"))
    parser.add_argument("--peer-pythonpath", default=os.environ.get("PEER_PYTHONPATH", ""))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--platform", default="cpu", help="JAX_PLATFORMS of every process (cuda)")
    parser.add_argument("--cpus", default="0", help="taskset core list; '' for every core")
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["ppo_cartpole:1", "ppo_cartpole:8", "dqn_cartpole:1", "dqn_cartpole:8",
                 "ppo_breakout_minatar:1"],
        help="workload:seeds",
    )  # fmt: skip
    parser.add_argument("--child", choices=["ours", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), help=argparse.SUPPRESS)
    parser.add_argument("--seeds", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        if args.child == "ours":
            result = child_ours(args.workload, args.seeds)
        else:
            result = child_peer(args.workload, args.seeds, Path(args.purejaxrl_dir))
        common.report(result)
        return
    if not args.purejaxrl_dir or not (Path(args.purejaxrl_dir) / "purejaxrl" / "ppo.py").is_file():
        print(
            f"error: --purejaxrl-dir / PUREJAXRL_DIR={args.purejaxrl_dir!r} is not a PureJaxRL "
            "checkout (no purejaxrl/ppo.py in it)",
            file=sys.stderr,
        )
        sys.exit(2)
    rows = []
    for case in args.cases:
        workload, seeds = case.split(":")
        runs = {"ours": [], "peer": []}
        for round_ in range(args.rounds):
            for who in ("ours", "peer") if round_ % 2 == 0 else ("peer", "ours"):
                runs[who].append(run_child(who, workload, int(seeds), args))
                common.report(workload, seeds, who, runs[who][-1])
        row = {"workload": workload, "seeds": int(seeds), "runs": runs}
        for who, results in runs.items():
            row[who] = {k: statistics.median(r[k] for r in results) for k in results[0]}
        rows.append(row)
        print(table(rows[-1:]).splitlines()[-1], flush=True)

    import jax

    record = {
        "command": common.command(),
        "peer": "PureJaxRL " + peer_commit(Path(args.purejaxrl_dir)),
        "cpus": args.cpus or "all",
        "rounds": args.rounds,
        "jax": jax.__version__,
        "rows": rows,
    }
    common.write_record("peers", record, environment=False)
    readme = HERE / "README.md"
    text = readme.read_text()
    if MARK_BEGIN in text and MARK_END in text:
        head, rest = text.split(MARK_BEGIN)
        _, tail = rest.split(MARK_END)
        block = f"{MARK_BEGIN}\n{table(rows)}\n{MARK_END}"
        readme.write_text(head + block + tail)
    print(table(rows))


def peer_commit(peer_dir: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(peer_dir), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "(not a git checkout)"


if __name__ == "__main__":
    main()
