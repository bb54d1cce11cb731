"""Where XLA's compile time goes for PPO and DQN on CartPole-v1; results in
benchmarks/results/compile_time.json.

Two parts, each in fresh processes pinned to one core (`--cpus`), one seed, the algorithm's
defaults, the compilation cache off:

1. **Breakdown** of the two programs the runner compiles, `init` (`learner.init`) and `loop`
   (`lax.scan` of `learner.update` over the whole run, as `make_train` scans it), each jitted
   and vmapped over seeds as the runner does, with its XLA options (`devices.compiler_options()`):

       trace, lower     JAX's tracing to a jaxpr, then lowering to StableHLO
       HLO passes       XLA's optimisation passes over the whole program (fusion, layout, ...)
       kernels          the CPU backend emitting each fusion through MLIR (`ThunkEmitter`)
       LLVM             LLVM's optimisation and machine code of every kernel (`Codegen`)
       kernels (count)  how many kernels XLA compiles, and the fusions by the code they come
                        from (the JAX name stack of each fusion's root, sorted into families)

   The phases are XLA's own `TraceMe` spans, read from a `jax.profiler` trace of the compile.

2. **Options**: the whole `make_train` program (what `benchmarks/peers.py` times against
   PureJaxRL) compiled with each XLA option set of `OPTIONS`, then run once compiled: compile
   time, compiled run time, and whether the trained parameters are bit-equal to the default's.
   Alternating rounds, medians.

    python benchmarks/compile_time.py [--rounds 3] [--algos ppo dqn] [--cpus 1]
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

# name -> XLA options added to (or replacing) the runner's (`devices.compiler_options()`)
OPTIONS = {
    "default (LLVM -O2)": {},
    "LLVM -O1": {"xla_backend_optimization_level": 1},
    "LLVM -O0": {"xla_backend_optimization_level": 0},
    "no fusion emitters": {"xla_cpu_use_fusion_emitters": False},
}
COUNTS = ("kernel count", "LLVM modules")
# (family, pattern over a fusion's op_name): the first that matches names the family
FAMILIES = (
    ("random numbers", r"threefry|_uniform|_normal|_gumbel|random_bits|_shuffle|categorical"),
    ("gradients (backward pass)", r"transpose\(jvp"),
    ("loss (forward pass)", r"jvp\("),
    ("environment", r"jit\(step\)|jit\(reset\)|Environment|VmapEnv|Episode"),
    ("network layers (init's Gram-Schmidt; acting)", r"ActorCritic|QNetwork|Dense|MLP"),
    ("scan outputs", r"dynamic_update_index_in_dim|dynamic_update_slice"),
    ("XLA's own (copies, broadcasts)", r"^$"),
    ("other arithmetic (optimizer, targets, metrics)", r""),
)


def _learner(algo: str):
    import jax

    from purejaxrl import dqn, ppo
    from purejaxrl.config import hparams

    module = {"ppo": ppo, "dqn": dqn}[algo]
    config = module.Config(env_id="CartPole-v1", total_timesteps=500_000)
    return module, config, hparams(config), jax.random.split(jax.random.key(0), 1)


def _xla_phases(trace_dir: str) -> dict:
    """Seconds in XLA's phases, and the kernel count, from a profiler trace of one compile."""
    (path,) = Path(trace_dir).rglob("perfetto_trace.json.gz")
    events = json.load(gzip.open(path))
    events = events["traceEvents"] if isinstance(events, dict) else events
    total, count = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("ph") == "X":
            total[e["name"]] += e["dur"] / 1e6
            count[e["name"]] += 1
    backend = total["CpuCompiler::RunBackend"]
    return {
        "HLO passes": total["PjRtCpuClient::Compile"] - backend,
        "kernels": total["ThunkEmitter::EmitEntryComputation"]
        + total["ThunkEmitter::ConsumeKernels"],
        "LLVM": total["Codegen"],
        "kernel count": count["FusionCompiler::Compile"],
        "LLVM modules": count["TaskDispatcher::dispatch"],
    }


def _families(hlo: str) -> dict[str, int]:
    """Fusions of an optimised HLO module by family (`FAMILIES`), most first."""
    found = collections.Counter()
    for line in hlo.splitlines():
        if not re.match(r"\s*(ROOT )?\S+ = \S+ fusion\(", line):
            continue
        name = re.search(r'op_name="([^"]*)"', line)
        name = name.group(1) if name else ""
        family = next(f for f, pattern in FAMILIES if re.search(pattern, name))
        found[family] += 1
    return dict(found.most_common())


def child_breakdown(algo: str) -> dict:
    import jax

    from purejaxrl.devices import compiler_options

    module, config, hp, keys = _learner(algo)
    learner = module.make_learner(config)

    def loop(state, hp):
        return jax.lax.scan(lambda s, _: learner.update(s, hp), state, None, learner.num_updates)

    init = jax.vmap(learner.init, in_axes=(0, None))
    out = {}
    for name in ("init", "loop"):
        if name == "init":
            fn, args = init, (keys, hp)
        else:  # traced after init's own tracing, which is timed
            fn, args = jax.vmap(loop, (0, None)), (jax.eval_shape(init, keys, hp), hp)
        jitted = jax.jit(fn, compiler_options=compiler_options())
        tick = time.perf_counter()
        traced = jitted.trace(*args)
        trace_s = time.perf_counter() - tick
        tick = time.perf_counter()
        lowered = traced.lower()
        lower_s = time.perf_counter() - tick
        with tempfile.TemporaryDirectory() as tmp:
            with jax.profiler.trace(tmp, create_perfetto_trace=True):
                tick = time.perf_counter()
                compiled = lowered.compile()
                compile_s = time.perf_counter() - tick
            phases = _xla_phases(tmp)
        out[name] = {
            "trace_s": trace_s,
            "lower_s": lower_s,
            "compile_s": compile_s,
            **{k if k in COUNTS else f"{k}_s": v for k, v in phases.items()},
            "fusions": _families(compiled.as_text()),
        }
    return out


def child_options(algo: str, option: str) -> dict:
    import jax
    import numpy as np

    from purejaxrl.devices import compiler_options

    module, config, hp, keys = _learner(algo)
    train = jax.vmap(module.make_train(config), in_axes=(0, None))
    options = {**compiler_options(), **OPTIONS[option]}
    tick = time.perf_counter()
    compiled = jax.jit(train).lower(keys, hp).compile(options)
    compile_s = time.perf_counter() - tick
    tick = time.perf_counter()
    out = jax.block_until_ready(compiled(keys, hp))
    run_s = time.perf_counter() - tick
    leaves = [np.asarray(x) for x in jax.tree.leaves(out.state.params)]
    digest = hashlib.sha256(b"".join(x.tobytes() for x in leaves)).hexdigest()
    return {"compile_s": compile_s, "run_s": run_s, "params_sha256": digest[:16]}


def _run_child(args, *words: str) -> dict:
    command = [sys.executable, __file__, "--child", *words]
    if args.cpus:
        command = ["taskset", "-c", args.cpus, *command]
    env = {**os.environ, "PUREJAXRL_CPU_DEVICES": "1", "JAX_ENABLE_COMPILATION_CACHE": "false"}
    env.pop("XLA_FLAGS", None)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise SystemExit(f"compile_time.py: {' '.join(words)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--algos", nargs="+", default=["ppo", "dqn"], choices=["ppo", "dqn"])
    parser.add_argument("--cpus", default="1", help="taskset core list; '' for every core")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, algo, *rest = args.child
        out = child_breakdown(algo) if kind == "breakdown" else child_options(algo, rest[0])
        print(json.dumps(out))
        return
    record = {"command": "python benchmarks/" + " ".join([Path(__file__).name, *sys.argv[1:]])}
    record.update(cpus=args.cpus, rounds=args.rounds, breakdown={}, options={})
    for algo in args.algos:
        runs = [_run_child(args, "breakdown", algo) for _ in range(args.rounds)]
        record["breakdown"][algo] = {
            program: {
                key: (_median([r[program] for r in runs], key) if key != "fusions" else value)
                for key, value in runs[0][program].items()
            }
            for program in ("init", "loop")
        }
        by_option = {name: [] for name in OPTIONS}
        for _ in range(args.rounds):
            for name in OPTIONS:  # alternating: a slow spell hits every option alike
                by_option[name].append(_run_child(args, "options", algo, name))
        default = by_option[next(iter(OPTIONS))][0]["params_sha256"]
        record["options"][algo] = {
            name: {
                "compile_s": _median(runs, "compile_s"),
                "run_s": _median(runs, "run_s"),
                "bit_equal_to_default": all(r["params_sha256"] == default for r in runs),
            }
            for name, runs in by_option.items()
        }
        print(json.dumps({algo: [record["breakdown"][algo], record["options"][algo]]}, indent=1))
    common.write_record("compile_time", record)
    print(markdown(record))


def markdown(record: dict) -> str:
    """The two tables of benchmarks/README.md's compile-time section."""
    phases = ("trace_s", "lower_s", "HLO passes_s", "kernels_s", "LLVM_s", "compile_s")
    lines = [
        "| algorithm, program | trace | lower | HLO passes | kernels (MLIR) | LLVM | compile "
        "(all XLA) | kernels compiled | fusions by family |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for algo, programs in record["breakdown"].items():
        for program, row in programs.items():
            families = ", ".join(f"{k} {v}" for k, v in row["fusions"].items())
            cells = " | ".join(f"{row[p]:.2f}" for p in phases)
            lines.append(f"| {algo} {program} | {cells} | {row['kernel count']:.0f} | {families} |")
    lines += [
        "",
        "| algorithm | XLA options | compile (s) | compiled run (s) | same parameters |",
        "|---|---|---|---|---|",
    ]
    for algo, options in record["options"].items():
        for name, row in options.items():
            same = "yes" if row["bit_equal_to_default"] else "no"
            lines.append(
                f"| {algo} | {name} | {row['compile_s']:.2f} | {row['run_s']:.2f} | {same} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
