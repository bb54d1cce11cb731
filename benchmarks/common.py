"""What the benchmark scripts share: their flags, where results go, the record each writes (with
the command line that made it), progress lines, the returns row of a run, a run recorded beside a
published reference figure, timed whole runs and the raw env-step ceiling.

The scripts run as `python benchmarks/<name>.py`, so this folder is on the path and they
`import common`. Importing it loads only the standard library; JAX and purejaxrl are imported
inside the functions that use them, because atari_seeds.py's spawned workers and peers.py's child
processes import their script again and must not load more than they need.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository's root."""
RESULTS = Path(__file__).parent / "results"
"""benchmarks/results/: every script's JSON record and plots."""


def argument_parser(doc: str, **defaults: float) -> argparse.ArgumentParser:
    """The parser of a script, described by the first line of its docstring, with a flag
    `--<name>` (underscores as dashes) of the type of its default for each of `defaults`, in that
    order; a script adds any other flags itself."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    return parser


def run_settings(args: argparse.Namespace) -> dict:
    """Config fields of a measured run, from the script's `--total-timesteps` and `--num-seeds`:
    no progress bar, and the persistent compilation cache off, so compile times are real."""
    return dict(
        total_timesteps=args.total_timesteps,
        num_seeds=args.num_seeds,
        progress=False,
        compilation_cache="",
    )


def command(args: argparse.Namespace | None = None) -> str:
    """The command line to record: `python benchmarks/<script>.py` with every flag of `args` at its
    value (defaults included, in the order the parser declares them), or, without `args`, with
    the arguments as given."""
    words = ["python", f"benchmarks/{Path(sys.argv[0]).name}"]
    if args is None:
        return " ".join(words + sys.argv[1:])
    for name, value in vars(args).items():
        flag = name.replace("_", "-")
        if isinstance(value, bool):  # an on/off flag (argparse.BooleanOptionalAction)
            words.append(f"--{flag}" if value else f"--no-{flag}")
            continue
        values = value if isinstance(value, list | tuple) else [value]
        words += [f"--{flag}", *(shlex.quote(str(v)) for v in values)]  # '' stays an argument
    return " ".join(words)


def report(*parts) -> None:
    """Prints one progress line, `parts` with the last as JSON, at once."""
    print(*parts[:-1], json.dumps(parts[-1]), flush=True)


def result_file(name: str) -> Path:
    """results/<name>, the folder made if it is missing."""
    RESULTS.mkdir(exist_ok=True)
    return RESULTS / name


def write_record(name: str, record: dict, *, environment: bool = True) -> None:
    """Writes `record`, followed by the versions, device and host (`runner.environment_record()`)
    unless `environment` is False, and the code it was made at (`code_record()`), to
    results/<name>.json, atomically."""
    from purejaxrl.outputs import atomic_write_json

    if environment:
        from purejaxrl import runner

        record = {**record, **runner.environment_record()}
    atomic_write_json(result_file(f"{name}.json"), {**record, "code": code_record()})


CODE_PATHS = ("purejaxrl", "envs", "benchmarks/*.py")
"""The files whose changes can change a record's numbers: the package, the environments and the
benchmark scripts (not their results, docs or tests); `benchmarks/results.py` narrows them to
the files a row's run imported where its record lists them, else the scripts to the row's own and
this module."""


def git(*words: str, root: Path = ROOT) -> str | None:
    """`git -C root <words>`'s output, or None where git is missing or fails (not a checkout)."""
    try:
        done = subprocess.run(["git", "-C", str(root), *words], capture_output=True, text=True)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def code_record() -> dict | None:
    """The checkout's commit and the code files (`CODE_PATHS`) changed from it but not committed,
    or None outside a git checkout: what a record was made at, so that `benchmarks/results.py
    --list` can say when the code has moved on since."""
    commit = git("rev-parse", "HEAD")
    changed = git("status", "--porcelain", "--", *CODE_PATHS)
    if commit is None or changed is None:
        return None
    return {
        "commit": commit.strip(),
        "uncommitted": sorted(line[3:] for line in changed.splitlines()),
    }


def run_on_all_cores(main: Callable[[], None]) -> None:
    """Runs `main` with JAX's CPU split into one device per core, done before anything starts
    JAX (the entry point of every script that trains in its own process)."""
    from purejaxrl.devices import split_cpu

    split_cpu()
    main()


def returns_row(result, **extra) -> dict:
    """Final returns (mean, 95% CI, IQM, per seed), compile and run time of a one-point run
    (`runner.RunResult`), then `extra`."""
    row = result.summary["results"][0]
    return {
        "final_return_mean": row["final_return_mean"],
        "final_return_ci95": row["final_return_ci95"],
        "final_return_iqm": row["final_return_iqm"],
        "final_return_per_seed": row["final_return_per_seed"],
        "compile_time_s": result.summary["compile_time_s"],
        "run_time_s": result.summary["run_time_s"],
        **extra,
    }


def run_beside_reference(
    args: argparse.Namespace,
    config,
    make_learner,
    algo: str,
    *,
    title: str,
    reference: dict,
    write: bool = False,
) -> dict:
    """Runs `config` through the shared runner, prints its result table, plots its learning curve
    to results/<args.out>_curve.png and writes results/<args.out>.json: the command, the config,
    `returns_row` with steps/s, then `reference` (published figures to set beside it, each under
    its own key with its source and step, e.g. {"cleanrl": {...}}). Returns the record.

    With `write` the runner keeps its run folder (checkpoints, outputs) under
    `config.runs_dir`, and the record names it ("run_dir").
    """
    import dataclasses

    from purejaxrl import cli, runner
    from purejaxrl.outputs import plot_curves

    result = runner.run(config, make_learner, algo, write=write)
    print(cli.format_table(result))
    plot_curves(
        result_file(f"{args.out}_curve.png"),
        result.env_steps,
        result.metrics["episode_return"],
        [""],
        title,
    )
    record = {
        "command": command(args),
        "config": dataclasses.asdict(config),
        **returns_row(result, steps_per_second=result.summary["steps_per_second"]),
        **reference,
    }
    if result.run_dir is not None:
        record["run_dir"] = str(result.run_dir)
    write_record(args.out, record)
    return record


def timed_runs(config, make_learner, algo: str, repeats: int) -> dict:
    """Runs `config` `repeats` times through the shared runner (no outputs written) and returns
    median compile and run times.

    Every run compiles afresh unless `config.compilation_cache` is set; set it to "" for real
    compile times.
    """
    from purejaxrl import runner

    compile_times, run_times = [], []
    for _ in range(repeats):
        result = runner.run(config, make_learner, algo, write=False)
        compile_times.append(result.summary["compile_time_s"])
        run_times.append(result.summary["run_time_s"])
    steps = result.summary["env_steps_per_run"] * config.num_seeds
    return {
        "num_seeds": config.num_seeds,
        "progress": config.progress,
        "compile_time_s": statistics.median(compile_times),
        "run_time_s": statistics.median(run_times),
        "run_times_s": run_times,
        "steps_per_second": steps / statistics.median(run_times),
        "final_return_mean": result.summary["results"][0]["final_return_mean"],
    }


def rollout_steps_per_second(rollout, env_steps: int, repeats: int) -> float:
    """`env_steps` / the median wall time of `repeats` calls of the jitted `rollout(key)`, compiled
    once beforehand (so compile time is not counted)."""
    import jax

    compiled = jax.jit(rollout).lower(jax.random.key(0)).compile()
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(jax.random.key(r)))
        times.append(time.perf_counter() - start)
    return env_steps / statistics.median(times)


def env_steps_per_second(env_id: str, num_envs: int, steps: int, repeats: int) -> float:
    """The raw env-step ceiling the benchmarks compare training against: env steps/s of
    `num_envs` envs taking uniformly random actions for `steps` steps in one jitted scan (median
    of `repeats`)."""
    import jax

    from purejaxrl import envs

    env = envs.make_batched(env_id, num_envs)
    space = env.action_space

    def rollout(key):
        _, state = env.reset(key)

        def step(state, key):
            action_key, env_key = jax.random.split(key)
            action = jax.vmap(space.sample)(jax.random.split(action_key, num_envs))
            _, state, reward, *_ = env.step(env_key, state, action)
            return state, reward.sum()

        return jax.lax.scan(step, state, jax.random.split(key, steps))[1].sum()

    return rollout_steps_per_second(rollout, num_envs * steps, repeats)


def env_ceiling(env_id: str, num_envs: int, steps_per_env: int, repeats: int) -> dict:
    """`env_steps_per_second` as a row, {"num_envs", "steps_per_second"}, reported as it comes."""
    row = {
        "num_envs": num_envs,
        "steps_per_second": env_steps_per_second(env_id, num_envs, steps_per_env, repeats),
    }
    report(row)
    return row
