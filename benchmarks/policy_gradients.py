"""REINFORCE variants and A2C on CartPole-v1: speed, returns, and the gradient-variance table.

Results in benchmarks/results/policy_gradients.json and policy_gradients_curve.png.

1. Speed: compile and run time of REINFORCE (learned baseline, 1e6 steps) and A2C (5e5 steps)
   at their defaults, 1 and 8 seeds, medians of `--repeats`; the raw env ceiling for 8 envs.
2. Returns: each REINFORCE variant (total return / reward-to-go, no / mean / learned baseline)
   trained for 1e6 steps, 8 seeds, next to A2C; learning curves in one plot.
3. Gradient variance: a REINFORCE policy (with its value network) trained for
   `--variance-steps` steps is frozen; each variant's estimator, without normalisation, is drawn
   `--draws` times at those parameters (one draw = one window of 8 envs x 500 steps). Reported:
   the total variance of the policy-parameter gradient (sum over parameters), its ratio to the
   plainest estimator's, and the norm of the mean gradient.

    python benchmarks/policy_gradients.py [--repeats 3] [--draws 512] [--variance-steps 100000]
"""

from __future__ import annotations

import dataclasses
import warnings

import common
import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl import a2c, reinforce, runner
from purejaxrl.hparams import hparams
from purejaxrl.outputs import plot_curves

VARIANTS = {
    "total return, no baseline": dict(returns="total", baseline="none"),
    "reward-to-go, no baseline": dict(returns="reward_to_go", baseline="none"),
    "reward-to-go, mean baseline": dict(returns="reward_to_go", baseline="mean"),
    "reward-to-go, learned baseline": dict(returns="reward_to_go", baseline="value"),
}


def gradient_variance(steps: int, draws: int) -> list[dict]:
    base = reinforce.ReinforceConfig(total_timesteps=steps, progress=False, compilation_cache="")
    trained = jax.jit(reinforce.make_train(base))(jax.random.key(0), hparams(base))
    params, baseline = trained.state.params, trained.state.baseline
    rows = []
    for name, variant in VARIANTS.items():
        config = dataclasses.replace(base, normalize=False, **variant)
        estimate = reinforce.make_gradient_estimator(config)

        def policy_gradient(key, estimate=estimate, config=config):
            grads, metrics = estimate(params, baseline, key, hparams(config))
            policy = {k: v for k, v in grads["params"].items() if k in POLICY_LAYERS}
            flat = jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(policy)])
            return flat, metrics["episode_return"]

        keys = jax.random.split(jax.random.key(1), draws)
        flat, returns = jax.jit(jax.vmap(policy_gradient))(keys)
        flat = np.asarray(flat, np.float64)
        rows.append(
            {
                "variant": name,
                "total_variance": float(flat.var(axis=0).sum()),
                "mean_gradient_norm": float(np.linalg.norm(flat.mean(axis=0))),
                "policy_return": float(np.nanmean(np.asarray(returns))),
            }
        )
    plain = rows[0]["total_variance"]
    for row in rows:
        row["variance_ratio_to_plain"] = row["total_variance"] / plain
        common.report(row)
    return rows


# ActorCritic's submodules: MLP_0 and Dense_0 form the policy, MLP_1 and Dense_1 the value.
POLICY_LAYERS = ("MLP_0", "Dense_0", "log_std")


def main() -> None:
    parser = common.argument_parser(__doc__, repeats=3, draws=512, variance_steps=100_000)
    args = parser.parse_args()

    timing = []
    for module, algo in ((reinforce, "reinforce"), (a2c, "a2c")):
        for seeds in (1, 8):
            config = module.Config(num_seeds=seeds, progress=False, compilation_cache="")
            row = common.timed_runs(config, module.make_learner, algo, args.repeats)
            timing.append({"algo": algo, **row})
            common.report(timing[-1])
    ceiling = common.env_steps_per_second("CartPole-v1", 8, 500 * 250, args.repeats)
    common.report({"ceiling_8_envs": ceiling})

    curves, labels, returns = [], [], {}
    for name, variant in VARIANTS.items():
        config = reinforce.ReinforceConfig(
            num_seeds=8, progress=False, compilation_cache="", **variant
        )
        result = runner.run(config, reinforce.make_learner, "reinforce", write=False)
        curves.append((result.env_steps, result.metrics["episode_return"][0]))
        labels.append(f"REINFORCE, {name}")
        returns[labels[-1]] = result.summary["results"][0]
        common.report(labels[-1], returns[labels[-1]]["final_return_mean"])
    a2c_result = runner.run(
        a2c.A2CConfig(num_seeds=8, progress=False, compilation_cache=""), a2c.make_learner, "a2c",
        write=False,
    )  # fmt: skip
    returns["A2C"] = a2c_result.summary["results"][0]
    common.report("A2C", returns["A2C"]["final_return_mean"])

    # A2C logs every 40 env steps; average its returns over REINFORCE's 4000-step updates.
    bins = a2c_result.metrics["episode_return"][0].reshape(8, -1, 100)  # (seed, bin, update)
    with warnings.catch_warnings():  # a bin where a seed finished no episode is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        a2c_curve = np.nanmean(bins, axis=2)
    curves.append((a2c_result.env_steps.reshape(-1, 100)[:, -1], a2c_curve))
    labels.append("A2C")
    plot_curves(
        common.result_file("policy_gradients_curve.png"),
        [steps for steps, _ in curves],
        [returns for _, returns in curves],
        labels,
        "CartPole-v1, 8 seeds each (95% bands)",
    )

    variance = gradient_variance(args.variance_steps, args.draws)
    record = {
        "command": common.command(args),
        "timing": timing,
        "ceiling_8_envs_steps_per_second": ceiling,
        "returns_8_seeds": returns,
        "gradient_variance": variance,
    }
    common.write_record("policy_gradients", record)


if __name__ == "__main__":
    common.run_on_all_cores(main)
