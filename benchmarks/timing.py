"""Timing of whole training runs through the shared runner, for the benchmark scripts."""

from __future__ import annotations

import statistics

from purejaxrl import runner


def timed_runs(config, make_learner, algo: str, repeats: int) -> dict:
    """Runs `config` `repeats` times (no outputs written) and returns median compile and run times.

    Every run compiles afresh unless `config.compilation_cache` is set; set it to "" for real
    compile times.
    """
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
