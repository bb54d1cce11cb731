"""README.md's Results table, row by row: the one command that makes each row's figures, the
results JSON it writes under benchmarks/results/, and the row's cells rendered from that JSON.

    python benchmarks/results.py --list                 # the rows, their commands, rough cost here,
                                                        # and whether the code moved on since
    python benchmarks/results.py --stale                # the ids of the rows whose code moved on
                                                        # (the repository files the row's run
                                                        # imported, listed in its record)
    python benchmarks/results.py --rows a2c dqn         # reruns those rows, then rewrites the table
    python benchmarks/results.py --render               # rewrites the table from the recorded JSONs
    make results                                        # the same as --render

A row's command is one of three kinds:

- a benchmark script, `python benchmarks/<name>.py ...`, which writes its own JSON record (with
  the command line that made it) to benchmarks/results/;
- a run of the shared runner, `python -m purejaxrl ALGO ...`: this script runs it with its
  outputs in a temporary folder and records the run's summary.json, with the command, as
  benchmarks/results/<record>.json;
- a test, `pytest ...` (the tabular rows, whose figure is a test's pass): this script records the
  outcome (tests, failures, time) the same way.

The table sits in README.md between the two marker comments `BEGIN` and `END` and is rewritten
atomically; every cell is a template over the records (`{name[key][0]:ci}`: record
benchmarks/results/name.json, then keys into it) or a function of them, so the hand-written text a
row carries (reference figures, notes) stays beside the figures the JSON holds. `--render` refuses
a README table that holds a row this file does not know (added by hand), so that no row is lost.

To add a row: append a `Row` to `ROWS` (its command, the record it writes, its six cells), run
`python benchmarks/results.py --rows <id>`, commit the JSON and README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import string
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import common

ROOT = common.ROOT
README = ROOT / "README.md"
BEGIN = (
    "<!-- results table: rendered by `python benchmarks/results.py --render` from "
    "benchmarks/results/*.json; edit the rows in benchmarks/results.py -->"
)
END = "<!-- end of the results table -->"
HEADER = (
    "| algorithm | environment | env steps | seeds | final return (mean [95% CI]) | target |\n"
    "|---|---|---|---|---|---|"
)

Records = Mapping[str, dict]
"""Record name (benchmarks/results/<name>.json) -> its JSON."""
Cell = str | Callable[[Records], str]
"""A cell: a template over the records (`string.Formatter` fields, specs in `RecordFormatter`)
or a function of them."""


class RecordFormatter(string.Formatter):
    """`str.format` over the records, with format specs for a seed summary (a dict holding
    `final_return_mean`, `final_return_ci95`, ... or `mean`, `ci95`):

    - `ci`, `ci2`: "mean [low, high]" with 1 or 2 decimals;
    - `iqm`, `iqm2`: the interquartile mean;
    - `worst`: the lowest seed's return;
    - `every`: "every seed" when all seeds share the mean's value, else the number of seeds at
      the best seed's value ("5 of 8 seeds").
    Any other spec is Python's own."""

    def format_field(self, value, format_spec: str) -> str:
        kind, digits = format_spec.rstrip("2"), 2 if format_spec.endswith("2") else 1
        if kind == "ci":
            low, high = _get(value, "ci95")
            return f"{_get(value, 'mean'):.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
        if kind == "iqm":
            return f"{_get(value, 'iqm'):.{digits}f}"
        if kind == "worst":
            return f"{min(_get(value, 'per_seed')):.1f}"
        if kind == "every":
            seeds = _get(value, "per_seed")
            best = sum(math.isclose(s, max(seeds)) for s in seeds)
            return "every seed" if best == len(seeds) else f"{best} of {len(seeds)} seeds"
        return super().format_field(value, format_spec)


def _get(summary: dict, field: str):
    """A seed summary's `field` under either naming (`final_return_<field>` or `<field>`)."""
    for key in (f"final_return_{field}", field):
        if key in summary:
            return summary[key]
    raise KeyError(f"no {field!r} in a record entry with keys {sorted(summary)}")


def cell(template: Cell, records: Records) -> str:
    """A cell's text: the template filled from `records`, or the function applied to them."""
    if callable(template):
        return template(records)
    return RecordFormatter().format(template, **records)


@dataclass(frozen=True)
class Row:
    """One row of the Results table."""

    id: str
    """What `--rows` names it by."""
    command: str
    """The one command, run from the repository root, that writes `records[0]`."""
    records: tuple[str, ...]
    """Names of the results JSONs (benchmarks/results/<name>.json) its cells read; the first is the
    one `command` writes."""
    cost: str
    """Rough wall time of `command` on the 2-core development machine."""
    algorithm: Cell
    environment: Cell
    steps: Cell
    seeds: Cell
    result: Cell
    target: Cell = ""

    @property
    def kind(self) -> str:
        """The command's kind: "runner" (`python -m purejaxrl`), "pytest" or "script"."""
        if self.command.startswith("python -m purejaxrl "):
            return "runner"
        return "pytest" if self.command.startswith("pytest ") else "script"

    def cells(self, records: Records) -> list[str]:
        return [
            cell(c, records)
            for c in (self.algorithm, self.environment, self.steps, self.seeds, self.result)
        ] + [cell(self.target, records)]


# Cells that compute more than a template says.


def _craftax(r: Records) -> str:
    policy = r["suites_craftax"]["results"]["ppo"]["final_policy"]
    rates = policy["success_rate_percent"]
    shown = {"wood": "collect_wood", "table": "place_table", "wood pickaxe": "make_wood_pickaxe",
             "stone": "collect_stone", "iron": "collect_iron"}  # fmt: skip
    listed = ", ".join(f"{name} {rates[key]:.0f}%" for name, key in shown.items())
    return cell(
        f"return {{r[suites_craftax][results][ppo]:ci2}}; score of the final policies "
        f"{policy['score_percent']:.1f}% (Crafter's score over the 22 achievements' success "
        f"rates; {listed})",
        {"r": r},
    )


def _td3_2e4(r: Records) -> str:
    returns = r["sac_pendulum"]["returns"]
    learning = " (still learning)" if returns["td3"]["final_return_mean"] < -250 else ""
    return cell(f"DDPG {{r[ddpg]:ci}}; TD3 {{r[td3]:ci}}{learning}", {"r": returns})


def _pqn(r: Records) -> str:
    medians = r["pqn_cartpole"]["medians"]
    pqn = medians["pqn"]["final_return_mean"]
    every = " (every seed)" if pqn == 500.0 else ""
    ratio = r["pqn_cartpole"]["pqn_over_dqn_run_time"]
    verdict = "" if ratio < 0.95 else ": not faster on this CPU"
    return (
        f"{pqn:.1f}{every}, run "
        f"{medians['pqn']['run_time_s']:.0f} s against DQN's {medians['dqn']['run_time_s']:.0f} s "
        f"({ratio:.2f}{verdict})"
    )


def _memory_chain_30(r: Records) -> str:
    record = r["ppo_rnn_memory_memory_chain30"]
    rnn = record["memory_chain_ppo_rnn"]
    solved = sum(s > 0.9 for s in rnn["final_return_per_seed"])
    seeds = len(rnn["final_return_per_seed"])
    return cell(
        f"{{rnn:ci2}}, IQM {{rnn:iqm2}}: {solved} seeds solve it, {seeds - solved} do not; "
        "feed-forward PPO {ppo:ci2}",
        {"rnn": rnn, "ppo": record["memory_chain_ppo"]},
    )


MEMORY_LEARNED = 0.6
"""A MemoryS8 seed's return above this has left chance (0.5, a blind pick at the corridor's end)."""


def _memory_s8(r: Records) -> str:
    rnn, ff = r["suites_memory"]["results"]["ppo_rnn"], r["suites_memory"]["results"]["ppo"]
    seeds = ", ".join(f"{x:.2f}" for x in sorted(rnn["final_return_per_seed"]))
    learned, ff_learned = (
        sum(x > MEMORY_LEARNED for x in agent["final_return_per_seed"]) for agent in (rnn, ff)
    )
    ff_seeds = "every seed at chance" if not ff_learned else f"{ff_learned} seeds above chance"
    return (
        f"recurrent {cell('{s:ci2}', {'s': rnn})} (per seed {seeds}; seeds that learn to carry "
        f"the object: {learned} of {len(rnn['final_return_per_seed'])}); feed-forward "
        f"{cell('{s:ci2}', {'s': ff})}, {ff_seeds} (0.5: walk to the end, pick blindly)"
    )


def _awr_above_bc(r: Records) -> str:
    returns = r["awr_offline"]["returns"]
    awr = returns["awr_offline CartPole-v1 medium-replay"]
    bc = returns["bc CartPole-v1 medium-replay"]
    above = sum(
        a > b
        for a, b in zip(awr["final_return_per_seed"], bc["final_return_per_seed"], strict=True)
    )
    beta1 = r["awr_offline_cartpole_dqn"]["returns"]["awr_offline CartPole-v1 medium-replay"]
    return cell(
        f"{{awr:ci}}, above BC in {above} of {len(bc['final_return_per_seed'])} seeds; BC {{bc:ci}}; "
        "at the paper's beta 1 a tie ({beta1[final_return_mean]:.1f}, the same data in the "
        "awr-offline-cartpole-dqn row's run)",
        {"awr": awr, "bc": bc, "beta1": beta1},
    )


def _connect_four(r: Records) -> str:
    first, last = r["alphazero_connect_four"]["curve"][0], r["alphazero_connect_four"]["curve"][-1]

    def rate(point: dict, key: str) -> float:
        return sum(point[key]) / len(point[key])  # the mean over seeds

    return (
        f"search (64 simulations) wins {rate(last, 'search_vs_random_win'):.2f} against random, "
        f"{rate(last, 'search_vs_two_ply_win'):.2f} against 2-ply (draws "
        f"{rate(last, 'search_vs_two_ply_draw'):.2f}); raw network "
        f"{rate(last, 'network_vs_random_win'):.2f} / {rate(last, 'network_vs_two_ply_win'):.2f}; "
        f"untrained search {rate(first, 'search_vs_random_win'):.2f} / "
        f"{rate(first, 'search_vs_two_ply_win'):.2f}"
    )


def _tabular(text: str, record: str) -> Callable[[Records], str]:
    """A test row's cell: `text` when the recorded test run passed, else what failed."""

    def render(r: Records) -> str:
        outcome = r[record]
        if outcome["passed"]:
            return text
        return f"FAILED: {outcome['failures']} of {outcome['tests']} tests (`{outcome['command']}`)"

    return render


AZ = "alphazero_cartpole[results]"
AWR = "awr_offline[returns]"
DATA = "awr_offline[datasets]"
DQN_AWR = "awr_offline_cartpole_dqn[returns]"
DQN_DATA = "awr_offline_cartpole_dqn[datasets]"

# fmt: off
# Row(id, command, records, cost, algorithm, environment, env steps, seeds, result[, target])
ROWS: tuple[Row, ...] = (
    Row(
        "ppo-cartpole", "python -m purejaxrl ppo --env-id CartPole-v1 --num-seeds 8",
        ("run_ppo_cartpole",), "1 min",
        "PPO", "CartPole-v1", "5e5", "8", "{run_ppo_cartpole[results][0]:ci}", ">= 475",
    ),
    Row(
        "ppo-pendulum", "python benchmarks/ppo_pendulum.py", ("ppo_pendulum",), "3-6 min",
        "PPO (Gaussian)", "Pendulum-v1", "1e6", "8", "{ppo_pendulum[results][0]:ci}", ">= -250",
    ),
    Row(
        "dqn", "python -m purejaxrl dqn --env-id CartPole-v1 --num-seeds 8", ("run_dqn",),
        "2-4 min",
        "DQN", "CartPole-v1", "5e5", "8",
        "{run_dqn[results][0]:ci} (IQM {run_dqn[results][0]:iqm})", ">= 475",
    ),
    Row(
        "double-dqn", "python -m purejaxrl dqn --env-id CartPole-v1 --double --num-seeds 8",
        ("run_double_dqn",), "2-4 min",
        "Double DQN (`--double`)", "CartPole-v1", "5e5", "8",
        "{run_double_dqn[results][0]:ci} (IQM {run_double_dqn[results][0]:iqm}; same settings, "
        "untuned)",
    ),
    Row(
        "double-dqn-anneal",
        "python -m purejaxrl dqn --env-id CartPole-v1 --double --anneal-lr --num-seeds 8",
        ("run_double_dqn_anneal",), "2-4 min",
        "Double DQN, lr annealed (`--double --anneal-lr`)", "CartPole-v1", "5e5", "8",
        "{run_double_dqn_anneal[results][0]:ci} (IQM {run_double_dqn_anneal[results][0]:iqm})",
        ">= 475",
    ),
    Row(
        "sac-pendulum", "python benchmarks/sac_pendulum.py --num-seeds 8 --total-timesteps 20000",
        ("sac_pendulum",), "2-5 min",
        "SAC, `benchmarks/sac_pendulum.py`", "Pendulum-v1", "2e4", "8",
        "{sac_pendulum[returns][sac]:ci} (IQM {sac_pendulum[returns][sac]:iqm})", ">= -250",
    ),
    Row(
        "ddpg-td3-2e4", "python benchmarks/sac_pendulum.py --num-seeds 8 --total-timesteps 20000",
        ("sac_pendulum",), "2-5 min",
        "DDPG / TD3, same budget as SAC (same script)", "Pendulum-v1", "2e4", "8", _td3_2e4,
    ),
    Row(
        "sac-cartpole",
        "python benchmarks/sac_cartpole.py --num-seeds 8 --total-timesteps 150000",
        ("sac_cartpole",), "3 min",
        "SAC (discrete, defaults: entropy target 0.7 log 2), `benchmarks/sac_cartpole.py`",
        "CartPole-v1", "1.5e5", "8",
        "{sac_cartpole:ci} ({sac_cartpole:every}); with the paper's 0.98 log 2 "
        "alpha runs away (34 at 4e4 steps), see `benchmarks/README.md`",
    ),
    Row(
        "ddpg-5e4", "python benchmarks/ddpg_pendulum.py --repeats 3 --mountain-car-steps 200000",
        ("ddpg_pendulum",), "5-10 min (with the speed figures and MountainCarContinuous)",
        "DDPG, `benchmarks/ddpg_pendulum.py`", "Pendulum-v1", "5e4", "8",
        "{ddpg_pendulum[returns_8_seeds][ddpg]:ci}", ">= -250",
    ),
    Row(
        "td3-5e4", "python benchmarks/ddpg_pendulum.py --repeats 3 --mountain-car-steps 200000",
        ("ddpg_pendulum",), "5-10 min (the same run as ddpg-5e4)",
        "TD3 (same script)", "Pendulum-v1", "5e4", "8",
        "{ddpg_pendulum[returns_8_seeds][td3]:ci}", ">= -250",
    ),
    Row(
        "pqn-cartpole",
        "python benchmarks/pqn_cartpole.py --rounds 1 --num-seeds 8 --total-timesteps 500000",
        ("pqn_cartpole",), "3 min",
        "PQN, `benchmarks/pqn_cartpole.py`", "CartPole-v1", "5e5", "8", _pqn,
        ">= 475, faster than DQN",
    ),
    *(
        Row(
            f"{algo}-{game.split('-')[0].lower()}",
            "python benchmarks/minatar.py --total-timesteps 524288 --num-seeds 4 --games "
            f"{game} --algos pqn ppo --output minatar",
            ("minatar",), "3 min (both algorithms)",
            label, game, "5.2e5", "4",
            f"{{minatar[results][{game}][{algo}]:ci}}{reference}",
        )
        for game in ("Breakout-MinAtar", "SpaceInvaders-MinAtar")
        for algo, label, reference in (
            ("pqn", "PQN (purejaxql's MinAtar settings)", ""),
            (
                "ppo",
                "PPO (gymnax-blines' MinAtar settings)",
                f" (gymnax-blines: {{minatar[references][ppo][returns][{game}]}} at 1e7)",
            ),
        )
    ),
    Row(
        "ddpg-mountaincar",
        "python benchmarks/ddpg_pendulum.py --repeats 3 --mountain-car-steps 200000",
        ("ddpg_pendulum",), "5-10 min (the same run as ddpg-5e4)",
        "DDPG (OU noise), same script", "MountainCarContinuous-v0", "2e5", "8",
        "{ddpg_pendulum[mountain_car_continuous]:ci}",
    ),
    Row(
        "awr-cartpole",
        "python benchmarks/awr_online.py --num-seeds 8 --cartpole-timesteps 256000 "
        "--pendulum-timesteps 301056",
        ("awr_online",), "12 min (both envs)",
        "AWR (online, the paper's settings), `benchmarks/awr_online.py`", "CartPole-v1", "2.56e5",
        "8", "{awr_online[returns][awr_cartpole]:ci}; PPO at the same budget "
        "{awr_online[returns][ppo_cartpole]:ci}", ">= 475",
    ),
    Row(
        "awr-pendulum",
        "python benchmarks/awr_online.py --num-seeds 8 --cartpole-timesteps 256000 "
        "--pendulum-timesteps 301056",
        ("awr_online",), "12 min (both envs)",
        "AWR (online, Adam 1e-3, action std 0.4), same script", "Pendulum-v1", "3.0e5", "8",
        "{awr_online[returns][awr_pendulum]:ci} (IQM {awr_online[returns][awr_pendulum]:iqm}; "
        "worst seed {awr_online[returns][awr_pendulum]:worst}); SAC at the same budget "
        "{awr_online[returns][sac_pendulum]:ci}", ">= -250",
    ),
    Row(
        "reinforce-baseline", "python -m purejaxrl reinforce --env-id CartPole-v1 --num-seeds 8",
        ("run_reinforce",), "1-2 min",
        "REINFORCE (reward-to-go, learned baseline: the defaults)", "CartPole-v1", "1e6", "8",
        "{run_reinforce[results][0]:ci}", ">= 450",
    ),
    Row(
        "reinforce-plain",
        "python -m purejaxrl reinforce --env-id CartPole-v1 --returns total --baseline none "
        "--num-seeds 8",
        ("run_reinforce_plain",), "1-2 min",
        "REINFORCE (total return, no baseline: `--returns total --baseline none`)", "CartPole-v1",
        "1e6", "8", "{run_reinforce_plain[results][0]:ci}",
    ),
    Row(
        "a2c", "python -m purejaxrl a2c --env-id CartPole-v1 --num-seeds 8", ("run_a2c",),
        "1-2 min",
        "A2C", "CartPole-v1", "5e5", "8",
        "{run_a2c[results][0]:ci} ({run_a2c[results][0]:every} at 500; the same runs compiled "
        "for one CPU device give 500.0 in every seed, as recorded on 2026-11-22: a numerics "
        "edge, not a code change, see `benchmarks/README.md`)",
        ">= 450",
    ),
    Row(
        "mujoco-halfcheetah",
        "python benchmarks/mujoco_ppo.py --total-timesteps 1000000 --num-seeds 4 "
        "--out mujoco_ppo_1e6_rewnorm",
        ("mujoco_ppo_1e6_rewnorm", "mujoco_ppo_1e6", "mujoco_ppo"), "20-40 min (the mujoco extra)",
        "PPO (CleanRL's `ppo_continuous_action` settings, the `mujoco` suite defaults: reward "
        "scaling on), `benchmarks/mujoco_ppo.py --out mujoco_ppo_1e6_rewnorm`",
        "HalfCheetah-v4 (envpool MuJoCo)", "1e6", "4",
        "{mujoco_ppo_1e6_rewnorm:ci}, IQM {mujoco_ppo_1e6_rewnorm:iqm} (CleanRL documents "
        "{mujoco_ppo_1e6_rewnorm[cleanrl][return_mean]:.1f} +- "
        "{mujoco_ppo_1e6_rewnorm[cleanrl][return_std]:.1f} at 1e6); without reward scaling "
        "(`--out mujoco_ppo_1e6 --no-normalize-rewards`): {mujoco_ppo_1e6:ci}; at 3e5 without it: "
        "{mujoco_ppo:ci}",
        "CleanRL's figure at 1e6",
    ),
    Row(
        "mujoco-hopper",
        "python benchmarks/mujoco_ppo.py --env-id Hopper-v4 --total-timesteps 1000000 "
        "--num-seeds 4 --out mujoco_ppo_hopper_1e6_rewnorm",
        ("mujoco_ppo_hopper_1e6_rewnorm", "mujoco_ppo_hopper_1e6"), "20-40 min (the mujoco extra)",
        "PPO, same script, `--env-id Hopper-v4 --out mujoco_ppo_hopper_1e6_rewnorm`",
        "Hopper-v4 (envpool MuJoCo)", "1e6", "4",
        "{mujoco_ppo_hopper_1e6_rewnorm:ci}, IQM {mujoco_ppo_hopper_1e6_rewnorm:iqm} (CleanRL "
        "documents {mujoco_ppo_hopper_1e6_rewnorm[cleanrl][return_mean]:.1f} +- "
        "{mujoco_ppo_hopper_1e6_rewnorm[cleanrl][return_std]:.1f}); without reward scaling "
        "(`--no-normalize-rewards`): {mujoco_ppo_hopper_1e6:ci}",
        "CleanRL's figure at 1e6",
    ),
    Row(
        "sac-halfcheetah",
        "python benchmarks/mujoco_offpolicy.py --algo sac --total-timesteps 70000 --num-seeds 2 "
        "--out mujoco_sac_7e4 --runs-dir runs",
        ("mujoco_sac_7e4",), "35 min on a shared machine (the mujoco extra)",
        "SAC (CleanRL's `sac_continuous_action` settings, the `mujoco` suite defaults), "
        "`benchmarks/mujoco_offpolicy.py --algo sac`",
        "HalfCheetah-v4 (envpool MuJoCo)", "7e4", "2",
        "{mujoco_sac_7e4:ci} (CleanRL documents {mujoco_sac_7e4[cleanrl][return_mean]:.1f} +- "
        "{mujoco_sac_7e4[cleanrl][return_std]:.1f} at 1e6 only; 3e5 took over 2 hours on the "
        "shared machine, about 32 min idle)",
        "CleanRL's figure at 1e6 (no figure at 7e4)",
    ),
    Row(
        "td3-halfcheetah",
        "python benchmarks/mujoco_offpolicy.py --algo td3 --total-timesteps 50000 --num-seeds 2 "
        "--out mujoco_td3_5e4",
        ("mujoco_td3_5e4",), "25 min on a shared machine (the mujoco extra)",
        "TD3 (CleanRL's `td3_continuous_action` settings, the `mujoco` suite defaults), same script",
        "HalfCheetah-v4 (envpool MuJoCo)", "5e4", "2",
        "{mujoco_td3_5e4:ci}, the first 25k steps random (CleanRL documents "
        "{mujoco_td3_5e4[cleanrl][return_mean]:.1f} +- {mujoco_td3_5e4[cleanrl][return_std]:.1f} "
        "at 1e6 only)",
        "CleanRL's figure at 1e6 (no figure at 5e4)",
    ),
    Row(
        "mjx-cartpole-balance",
        "python benchmarks/mjx.py --part record --total-timesteps 2304000 --num-seeds 4 "
        "--num-envs 256 --out mjx_cartpole_balance",
        ("mjx_cartpole_balance",), "12 min (the mjx extra)",
        "PPO (Playground's Brax PPO settings for dm_control, 256 envs, no value clipping), "
        "`benchmarks/mjx.py --part record`",
        "playground:CartpoleBalance (MuJoCo Playground, MJX on the CPU)", "2.3e6", "4",
        "{mjx_cartpole_balance[results][ppo]:ci}, IQM {mjx_cartpole_balance[results][ppo]:iqm} "
        "(no per-task Playground figure in text; with our PPO's value clipping 633.5 at older "
        "code, not rerun)",
        "the task's maximum, {mjx_cartpole_balance[task_maximum][return]}",
    ),
    Row(
        "ppo-rnn-cartpole",
        "python benchmarks/ppo_rnn_memory.py --cartpole-steps 1000000 --chain-steps 200000",
        ("ppo_rnn_memory",), "11 min (both tasks)",
        "Recurrent PPO (GRU), `benchmarks/ppo_rnn_memory.py`",
        "CartPole-v1, velocities removed (`obs_keep=0,2`)", "1e6", "8",
        "{ppo_rnn_memory[cartpole_masked_ppo_rnn]:ci}; feed-forward PPO at the same settings "
        "{ppo_rnn_memory[cartpole_masked_ppo]:ci}",
        ">= 400, feed-forward far below",
    ),
    Row(
        "ppo-rnn-chain5",
        "python benchmarks/ppo_rnn_memory.py --cartpole-steps 1000000 --chain-steps 200000",
        ("ppo_rnn_memory",), "11 min (the same run as ppo-rnn-cartpole)",
        "Recurrent PPO (GRU), same script", "MemoryChain-bsuite (memory length 5)", "2e5", "8",
        "{ppo_rnn_memory[memory_chain_ppo_rnn]:ci2}; feed-forward PPO "
        "{ppo_rnn_memory[memory_chain_ppo]:ci2} (chance: 0)",
        "solved, feed-forward not",
    ),
    Row(
        "ppo-rnn-chain30",
        "python benchmarks/ppo_rnn_memory.py --cartpole-steps 1000000 --chain-steps 400000 "
        "--chain-length 30 --cases memory_chain",
        ("ppo_rnn_memory_memory_chain30",), "4 min",
        "Recurrent PPO (GRU), same script (`--cases memory_chain --chain-length 30`)",
        "MemoryChain-bsuite, memory length 30 (`--env-options memory_length=30`)", "4e5", "8",
        _memory_chain_30, "solved, feed-forward not (6 of 8 seeds)",
    ),
    Row(
        "xminigrid-doorkey",
        "python benchmarks/suites.py --part solve --total-timesteps 300000 --num-seeds 8",
        ("suites_solve",), "2 min",
        "PPO (one-hot views, `--env-options one_hot=True`), `benchmarks/suites.py --part solve`",
        "xminigrid:MiniGrid-DoorKey-5x5", "3e5", "8",
        "{suites_solve[results][ppo][final_return_mean]:.3f} (every seed 0.964-0.965 from 7e4 "
        "steps: the goal in about 10 steps; 1 - 0.9 t / 250 on reaching it at step t)",
        "a solved XLand-MiniGrid task",
    ),
    Row(
        "craftax",
        "python benchmarks/suites.py --part craftax --total-timesteps 1000000 --num-seeds 4 "
        "--num-envs 64",
        ("suites_craftax",), "17 min idle (55 min on a shared machine)",
        "PPO (the Craftax paper's settings, 64 envs, optimistic resets), `benchmarks/suites.py "
        "--part craftax`",
        "craftax:Craftax-Classic-Symbolic-v1", "1e6", "4",
        _craftax,
        "the Craftax-1M budget (no figure of the Craftax paper is set beside it yet)",
    ),
    Row(
        "xminigrid-memory",
        "python benchmarks/suites.py --part memory --total-timesteps 10000000 --num-seeds 4",
        ("suites_memory",), "32 min",
        "Recurrent PPO (GRU) against feed-forward PPO, `benchmarks/suites.py --part memory`",
        "xminigrid:MiniGrid-MemoryS8 (a 3x3 view, one-hot)", "1e7", "4", _memory_s8,
        "memory shown on a POMDP-suite task: recurrent seeds above chance, feed-forward at it",
    ),
    Row(
        "bc-expert",
        "python benchmarks/bc_cartpole.py --num-seeds 8 --dataset-steps 100000 "
        "--medium-return 200.0 --runs-dir runs",
        ("bc_cartpole",), "2 min (both datasets)",
        "BC, `benchmarks/bc_cartpole.py` (greedy evaluation episodes; x: gradient steps)",
        "expert CartPole-v1 dataset from our PPO run (1e5 transitions, return "
        "{bc_cartpole[expert_dataset][mean_return]:.0f})",
        "2e4 gradient steps", "8", "{bc_cartpole[bc_expert]:ci}", ">= 475",
    ),
    Row(
        "bc-medium",
        "python benchmarks/bc_cartpole.py --num-seeds 8 --dataset-steps 100000 "
        "--medium-return 200.0 --runs-dir runs",
        ("bc_cartpole",), "2 min (the same run as bc-expert)",
        "BC, same script",
        "medium CartPole-v1 dataset (PPO after {bc_cartpole[medium_dataset][checkpoint_update]} "
        "updates; its mean return {bc_cartpole[medium_dataset][mean_return]:.1f})",
        "2e4 gradient steps", "8", "{bc_cartpole[bc_medium]:ci}: its data's level",
        "about the data's mean",
    ),
    Row(
        "awr-offline-pendulum-medium",
        "python benchmarks/awr_offline.py --num-seeds 8 --gradient-steps 10000",
        ("awr_offline",), "4 min (all four datasets)",
        "AWR offline (the paper's beta 1 on Pendulum), `benchmarks/awr_offline.py`",
        "medium Pendulum-v1 dataset (SAC after 6,000 steps plus noise; its mean return "
        f"{{{DATA}[Pendulum-v1 medium][mean_return]:.1f}})",
        "1e4 gradient steps", "8",
        f"{{{AWR}[awr_offline Pendulum-v1 medium]:ci}}; BC on the same data "
        f"{{{AWR}[bc Pendulum-v1 medium]:ci}}",
        "beats BC",
    ),
    Row(
        "awr-offline-pendulum-replay",
        "python benchmarks/awr_offline.py --num-seeds 8 --gradient-steps 10000",
        ("awr_offline",), "4 min (the same run)",
        "AWR offline, same script",
        "medium-replay Pendulum-v1 dataset (that SAC run's replay buffer, "
        f"{{{DATA}[Pendulum-v1 medium-replay][transitions]:,}} transitions; mean return "
        f"{{{DATA}[Pendulum-v1 medium-replay][mean_return]:.1f}})",
        "1e4 gradient steps", "8",
        f"{{{AWR}[awr_offline Pendulum-v1 medium-replay]:ci}}; BC "
        f"{{{AWR}[bc Pendulum-v1 medium-replay]:ci}}",
        "beats BC",
    ),
    Row(
        "awr-offline-cartpole-medium",
        "python benchmarks/awr_offline.py --num-seeds 8 --gradient-steps 10000",
        ("awr_offline", "awr_offline_cartpole_beta"), "4 min (the same run)",
        "AWR offline (beta 0.3 on CartPole), same script",
        "medium CartPole-v1 dataset (PPO after {awr_offline[datasets][CartPole-v1 medium]"
        "[checkpoint_update]} updates, 13,312 steps, sampling its policy; mean return "
        f"{{{DATA}[CartPole-v1 medium][mean_return]:.1f}})",
        "1e4 gradient steps", "8",
        f"{{{AWR}[awr_offline CartPole-v1 medium]:ci}} (beta 1: "
        "{awr_offline_cartpole_beta[medium-ppo-beta1][results][0]:ci}); BC "
        f"{{{AWR}[bc CartPole-v1 medium]:ci}}",
        "beats BC",
    ),
    Row(
        "awr-offline-cartpole-replay",
        "python benchmarks/awr_offline.py --num-seeds 8 --gradient-steps 10000",
        ("awr_offline", "awr_offline_cartpole_dqn"), "4 min (the same run)",
        "AWR offline (beta 0.3), same script",
        "medium-replay CartPole-v1 dataset (a DQN run's replay buffer after 4e4 steps; mean "
        f"return {{{DATA}[CartPole-v1 medium-replay][mean_return]:.1f}})",
        "1e4 gradient steps", "8", _awr_above_bc, "beats BC",
    ),
    Row(
        "awr-offline-cartpole-dqn",
        "python benchmarks/awr_offline.py --num-seeds 8 --gradient-steps 10000 "
        "--cartpole-medium-source dqn --cartpole-beta 1.0 --out awr_offline_cartpole_dqn",
        ("awr_offline_cartpole_dqn", "awr_offline_cartpole_beta"), "3 min",
        "AWR offline, same script, `--cartpole-medium-source dqn`",
        "medium CartPole-v1 dataset played by that DQN epsilon-greedy (epsilon 0.3; mean return "
        f"{{{DQN_DATA}[CartPole-v1 medium][mean_return]:.1f}})",
        "1e4 gradient steps", "8",
        f"{{{DQN_AWR}[awr_offline CartPole-v1 medium]:ci}} at beta 1 (`--cartpole-beta 1.0`), "
        "{awr_offline_cartpole_beta[medium][results][1]:ci} at beta 0.3 "
        f"(`benchmarks/results/awr_offline_cartpole_beta.json`); BC "
        f"{{{DQN_AWR}[bc CartPole-v1 medium]:ci}}: not better at any beta tried (see "
        "`benchmarks/README.md`)",
        "beats BC",
    ),
    Row(
        "offline-halfcheetah-replay",
        "python benchmarks/offline_halfcheetah.py",
        ("offline_halfcheetah",), "11 min (7 of them training the SAC run)",
        "AWR offline (beta 1), `benchmarks/offline_halfcheetah.py` (D4RL-normalised with our own "
        "references: random {offline_halfcheetah[references][random]:.1f}, expert "
        "{offline_halfcheetah[references][expert]:.1f}, SAC at 7e4 steps)",
        "medium-replay HalfCheetah-v4 dataset (SAC's replay buffer after 3.4e4 steps, normalised "
        "{offline_halfcheetah[datasets][medium-replay][normalised]:.1f})",
        "1e4 gradient steps", "8",
        "{offline_halfcheetah[returns][awr_offline medium-replay]:ci}, normalised "
        "{offline_halfcheetah[returns][awr_offline medium-replay][normalised_mean]:.1f}; BC "
        "{offline_halfcheetah[returns][bc medium-replay]:ci}, normalised "
        "{offline_halfcheetah[returns][bc medium-replay][normalised_mean]:.1f}",
        "beats BC",
    ),
    Row(
        "offline-halfcheetah-medium",
        "python benchmarks/offline_halfcheetah.py",
        ("offline_halfcheetah",), "the same run as offline-halfcheetah-replay",
        "AWR offline, same script",
        "medium HalfCheetah-v4 dataset (SAC after 3.4e4 steps plus noise 0.1, normalised "
        "{offline_halfcheetah[datasets][medium][normalised]:.1f})",
        "1e4 gradient steps", "8",
        "a tie: {offline_halfcheetah[returns][awr_offline medium]:ci}, normalised "
        "{offline_halfcheetah[returns][awr_offline medium][normalised_mean]:.1f}; BC "
        "{offline_halfcheetah[returns][bc medium]:ci}, normalised "
        "{offline_halfcheetah[returns][bc medium][normalised_mean]:.1f}",
        "beats BC (not met)",
    ),
    Row(
        "gail-cartpole",
        "python benchmarks/gail.py --num-seeds 8 --dataset-steps 32000 --runs-dir runs "
        "--expert-episodes 10 50 --envs CartPole-v1 Pendulum-v1",
        ("gail",), "6 min (both envs)",
        "GAIL, `benchmarks/gail.py` (the first 10 episodes of the greedy play of the best of 8 "
        "PPO seeds; PPO's settings)",
        "CartPole-v1", "5e5", "8",
        "{gail[CartPole-v1][gail_10_episodes]:ci} (from 50 episodes: "
        "{gail[CartPole-v1][gail_50_episodes][final_return_mean]:.1f}); expert data "
        "{gail[CartPole-v1][expert][collected_mean_return]:.1f}; PPO on the true reward "
        "{gail[CartPole-v1][ppo][final_return_mean]:.1f}",
        ">= 450",
    ),
    Row(
        "gail-pendulum",
        "python benchmarks/gail.py --num-seeds 8 --dataset-steps 32000 --runs-dir runs "
        "--expert-episodes 10 50 --envs CartPole-v1 Pendulum-v1",
        ("gail",), "6 min (the same run)",
        "GAIL, same script (`benchmarks/ppo_pendulum.py`'s PPO settings)", "Pendulum-v1", "1e6",
        "8",
        "10 episodes: {gail[Pendulum-v1][gail_10_episodes]:ci} (worst seed "
        "{gail[Pendulum-v1][gail_10_episodes]:worst}); 50 episodes: "
        "{gail[Pendulum-v1][gail_50_episodes]:ci} (two seeds collapse after reaching about "
        "-200); expert's greedy play {gail[Pendulum-v1][expert][collected_mean_return]:.1f}; PPO "
        "on the true reward {gail[Pendulum-v1][ppo]:ci}",
        ">= -250",
    ),
    Row(
        "alphazero-cartpole",
        "python benchmarks/alphazero_cartpole.py --num-seeds 8 --total-timesteps 102400 "
        "--num-simulations 32 --only alphazero_mdp ppo dqn --out alphazero_cartpole",
        ("alphazero_cartpole", "alphazero_cartpole_16"), "4 min (16 simulations: `--num-"
        "simulations 16 --only alphazero_mdp --out alphazero_cartpole_16`, 5 min)",
        "AlphaZero, true model (`alphazero_mdp`, 32 simulations), "
        "`benchmarks/alphazero_cartpole.py`",
        "CartPole-v1", "2e4 / 5e4 / 1e5", "8",
        f"{{{AZ}[alphazero_mdp][returns_at][0][mean]:.1f}} / "
        f"{{{AZ}[alphazero_mdp][returns_at][1][mean]:.1f}} / "
        f"{{{AZ}[alphazero_mdp][returns_at][2]:ci}}; PPO (defaults) "
        f"{{{AZ}[ppo][returns_at][0][mean]:.1f}} / {{{AZ}[ppo][returns_at][1][mean]:.1f}} / "
        f"{{{AZ}[ppo][returns_at][2][mean]:.1f}}; DQN (epsilon over half the run) "
        f"{{{AZ}[dqn][returns_at][0][mean]:.1f}} / {{{AZ}[dqn][returns_at][1][mean]:.1f}} / "
        f"{{{AZ}[dqn][returns_at][2][mean]:.1f}}; greedy at the end "
        f"{{{AZ}[alphazero_mdp][final_greedy_return]:.0f}} / {{{AZ}[ppo][final_greedy_return]:.0f}}"
        f" / {{{AZ}[dqn][final_greedy_return]:.0f}}; 16 simulations "
        "{alphazero_cartpole_16[results][alphazero_mdp][returns_at][0][mean]:.1f} / "
        "{alphazero_cartpole_16[results][alphazero_mdp][returns_at][1][mean]:.1f} / "
        "{alphazero_cartpole_16[results][alphazero_mdp][returns_at][2][mean]:.1f} in half the "
        "time (search: 9-18x PPO's wall time)",
        "sample efficiency against PPO and DQN",
    ),
    Row(
        "alphazero-connect-four",
        "python benchmarks/alphazero_connect_four.py --num-seeds 2 --updates 600 --eval-every 50 "
        "--num-simulations 32",
        ("alphazero_connect_four",), "12 min",
        "AlphaZero (`alphazero`, 32 self-play simulations), `benchmarks/alphazero_connect_four.py`",
        "connect_four (pgx), against a random and a 2-ply player, both sides",
        "806,400 self-play moves (600 updates)", "2",
        _connect_four,
        "win rates against fixed players, with curves",
    ),
    Row(
        "muzero-cartpole",
        "python benchmarks/alphazero_cartpole.py --num-seeds 8 --total-timesteps 102400 "
        "--num-simulations 32 --only muzero --out muzero_cartpole",
        ("muzero_cartpole", "alphazero_cartpole"), "7 min",
        "MuZero, learned model (`muzero`, 32 simulations), `benchmarks/alphazero_cartpole.py "
        "--only muzero --num-seeds 8 --out muzero_cartpole`",
        "CartPole-v1", "2e4 / 5e4 / 1e5", "8",
        "{muzero_cartpole[results][muzero][returns_at][0][mean]:.1f} / "
        "{muzero_cartpole[results][muzero][returns_at][1][mean]:.1f} / "
        "{muzero_cartpole[results][muzero][returns_at][2]:ci}; greedy search at the end "
        "{muzero_cartpole[results][muzero][final_greedy_return]:.1f}; about half the true "
        f"model's figure at 1e5 ({{{AZ}[alphazero_mdp][returns_at][2][mean]:.1f}}), still rising",
        "the model-based row beside the true-model planner",
    ),
    Row(
        "q-learning-deterministic",
        "pytest tests/purejaxrl/test_tabular.py -k q_star_on_every_deterministic_map",
        ("test_q_learning_deterministic",), "1 min",
        "Q-learning", "every deterministic gridworld", "2e4", "100",
        _tabular(
            "max abs(Q - Q*) < 0.05 and an optimal greedy policy for >= 95% of seeds (test)",
            "test_q_learning_deterministic",
        ),
        ">= 95%",
    ),
    Row(
        "q-learning-slippery",
        "pytest tests/purejaxrl/test_tabular.py -k 'slippery_maps and not Lizard'",
        ("test_q_learning_slippery",), "1 min",
        "Q-learning", "slippery 4x4, corridor, maze (slip 0.1)", "1e5-5e5", "100",
        _tabular(
            "the same, >= 95% of seeds (learning tests)", "test_q_learning_slippery"
        ),
        ">= 95%",
    ),
)
# fmt: on


def load_records(rows, results: Path = common.RESULTS) -> dict[str, dict]:
    """Every record the rows read, by name.

    Raises:
        FileNotFoundError: a record is missing, naming the row and the command that makes it.
    """
    records = {}
    for row in rows:
        for name in row.records:
            path = results / f"{name}.json"
            if not path.exists():
                raise FileNotFoundError(
                    f"row {row.id!r} reads {path}, which is missing: run "
                    f"`python benchmarks/results.py --rows {row.id}` ({row.command})"
                )
            records[name] = json.loads(path.read_text())
    return records


def render_table(rows, records: Records) -> str:
    """The table's markdown: the header, then one line per row."""
    lines = [HEADER] + ["| " + " | ".join(row.cells(records)) + " |" for row in rows]
    return "\n".join(lines)


def _row_key(line: str) -> tuple[str, str]:
    """A table line's (algorithm, environment) cells."""
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return (cells[0], cells[1]) if len(cells) > 1 else (cells[0], "")


def rewrite_readme(text: str, table: str) -> str:
    """`text` with the table between the markers replaced by `table`.

    Raises:
        ValueError: the markers are missing, or the table there holds a row that `table` does not
            (one added by hand: add it to ROWS first).
    """
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no results table between {BEGIN!r} and {END!r}")
    old = text[start + len(BEGIN) : end].strip().splitlines()[2:]  # below the header
    known = {_row_key(line) for line in table.splitlines()[2:]}
    unknown = [line for line in old if line.strip() and _row_key(line) not in known]
    if unknown:
        raise ValueError(
            f"README.md's results table has {len(unknown)} row(s) that benchmarks/results.py does "
            f"not render, the first: {unknown[0][:100]!r}; add them to ROWS (or remove them)"
        )
    return text[: start + len(BEGIN)] + "\n" + table + "\n" + text[end:]


def made_at(name: str, results: Path = common.RESULTS) -> tuple[str | None, str, list[str]]:
    """(commit, how it is known, code files uncommitted then) of record `name`: the commit its
    JSON names (`common.code_record`), else the commit that last wrote the JSON (records from
    before they named one), else None (never committed)."""
    record = json.loads((results / f"{name}.json").read_text())
    code = record.get("code")
    if code:
        return code["commit"], "recorded", code["uncommitted"]
    commit = (
        common.git("log", "-1", "--format=%H", "--", str(results / f"{name}.json"), root=ROOT) or ""
    ).strip()
    return commit or None, "the commit that last wrote it", []


IMPORT_HOOK = """\
# Written by benchmarks/results.py for one row's run, found first on PYTHONPATH: every process
# of the run appends the names of the repository's modules it loads to
# $RESULTS_IMPORT_LOG/<pid>.txt (the names whose first part is in $RESULTS_IMPORT_TOPS). A finder
# first on sys.meta_path sees every module loaded, by an import statement or by
# importlib.import_module, notes its name and leaves the finding to the usual finders.
import os
import sys

_tops = set(os.environ.get("RESULTS_IMPORT_TOPS", "").split())


class _NoteRepositoryModules:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in _tops:
            log = os.path.join(os.environ["RESULTS_IMPORT_LOG"], f"{os.getpid()}.txt")
            with open(log, "a") as f:
                f.write(name + "\\n")
        return None


sys.meta_path.insert(0, _NoteRepositoryModules)
"""


def import_tops(root: Path) -> set[str]:
    """The first parts of the names under which the repository's own modules are imported: its
    packages and the modules the benchmarks and tests import by bare name."""
    tops = {"purejaxrl", "envs", "tests"}
    for folder in ("benchmarks", "tests/support"):
        tops |= {path.stem for path in (root / folder).glob("*.py")}
    return tops


def logging_imports(tmp: Path) -> dict[str, str]:
    """The environment for a row's run under which each of its processes, children included,
    logs the repository modules it loads to tmp/imports/ (`IMPORT_HOOK`, an interpreter
    `sitecustomize`)."""
    (tmp / "hook").mkdir()
    (tmp / "imports").mkdir()
    (tmp / "hook" / "sitecustomize.py").write_text(IMPORT_HOOK)
    path = os.pathsep.join(p for p in (str(tmp / "hook"), os.environ.get("PYTHONPATH")) if p)
    tops = " ".join(sorted(import_tops(ROOT)))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "RESULTS_IMPORT_LOG": str(tmp / "imports"),
        "RESULTS_IMPORT_TOPS": tops,
    }


def imported_files(log: Path, root: Path) -> list[str]:
    """The repository's files (relative to `root`) behind the module names logged in `log`/*.txt:
    `a.b` is a/b.py or a/b/__init__.py; a bare name is also looked up in benchmarks/ and
    tests/support/ (the folders scripts and tests import from)."""
    names = {line for path in log.glob("*.txt") for line in path.read_text().split()}
    files = set()
    for name in names:
        parts = name.split(".")
        folders = [root] + ([root / "benchmarks", root / "tests" / "support"] * (len(parts) == 1))
        for folder in folders:
            for path in (
                folder.joinpath(*parts).with_suffix(".py"),
                folder.joinpath(*parts, "__init__.py"),
            ):
                if path.is_file():  # purejaxrl/envs links to envs/: git knows the target
                    files.add(path.resolve().relative_to(root.resolve()).as_posix())
    return sorted(files)


def entry_files(row: Row) -> list[str]:
    """The files a row's command runs directly rather than imports: the runner's `__main__`, a
    script, the test files a pytest command names and the conftest.py files above them."""
    words = shlex.split(row.command)
    if row.kind == "runner":
        return ["purejaxrl/__main__.py"]
    if row.kind == "script":
        return [words[1]]
    files = set()
    for word in words[1:]:
        path = ROOT / word.split("::")[0]
        if path.is_file():
            files.add(path.relative_to(ROOT).as_posix())
            for folder in path.relative_to(ROOT).parents:
                if (ROOT / folder / "conftest.py").is_file():
                    files.add((folder / "conftest.py").as_posix())
    return sorted(files)


def code_paths(row: Row, results: Path = common.RESULTS) -> list[str]:
    """The files whose changes can change `row`'s numbers: those its record's run imported from
    the repository (`code_files`, kept by `--rows`) and ran directly; for a record without that
    list, the package, the environments, the files the command runs directly and, for a
    benchmark script, `common.py`."""
    record = results / f"{row.records[0]}.json"
    files = json.loads(record.read_text()).get("code_files") if record.exists() else None
    if files is not None:
        return sorted(set(files) | set(entry_files(row)))
    paths = ["purejaxrl", "envs", *entry_files(row)]
    if row.kind == "script":
        paths.append("benchmarks/common.py")
    return paths


def keep_code_files(row: Row, log: Path, results: Path = common.RESULTS) -> None:
    """Adds to the record `row`'s command wrote the list of repository files its run imported
    (`code_files`, from `log`), which `code_paths` then reads."""
    from purejaxrl.outputs import atomic_write_json

    path = results / f"{row.records[0]}.json"
    record = json.loads(path.read_text())
    atomic_write_json(path, {**record, "code_files": imported_files(log, ROOT)})


def code_changes(commit: str | None, paths: list[str]) -> list[str] | None:
    """The files under `paths` that differ between `commit` and the working tree now (None:
    unknown, no commit)."""
    if commit is None:
        return None
    return (common.git("diff", "--name-only", commit, "--", *paths, root=ROOT) or "").splitlines()


def row_status(row: Row, results: Path = common.RESULTS) -> tuple[bool, str]:
    """(whether the code moved on since its record was made, a line saying so)."""
    name = row.records[0]
    if not (results / f"{name}.json").exists():
        return True, "no record yet"
    commit, how, uncommitted = made_at(name, results)
    paths = code_paths(row, results)
    changed = code_changes(commit, paths)
    if changed is None:
        return True, "made at no known commit"
    dirty = [f for f in uncommitted if any(f == p or f.startswith(p + "/") for p in paths)]
    changed = sorted(set(changed) | set(dirty))
    where = f"made at {commit[:7]} ({how})"
    if not changed:
        return False, f"{where}; code unchanged since"
    shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
    return True, f"{where}; code changed since: {shown}"


def run_row(row: Row) -> None:
    """Runs `row.command` from the repository root; records a runner's summary or a test's outcome
    as `row.records[0]`.

    Raises:
        subprocess.CalledProcessError: the command failed (a test row records its failure first).
    """
    words = shlex.split(row.command)
    with tempfile.TemporaryDirectory(prefix="results-") as tmp:
        if row.kind == "runner":
            argv = [sys.executable, *words[1:], "--runs-dir", tmp]
        elif row.kind == "pytest":
            argv = [
                sys.executable,
                "-m",
                *words,
                f"--junitxml={tmp}/junit.xml",
                "-p",
                "no:cacheprovider",
            ]
        else:
            argv = [sys.executable, *words[1:]]
        print(f"results.py: {row.id}: {row.command}", flush=True)
        done = subprocess.run(argv, cwd=ROOT, env=logging_imports(Path(tmp)))
        if row.kind == "runner" and done.returncode == 0:
            (summary,) = Path(tmp).glob("*/*/*/summary.json")
            record = {"command": row.command, **json.loads(summary.read_text())}
            common.write_record(row.records[0], record, environment=False)  # the summary holds it
        elif row.kind == "pytest":
            suite = ElementTree.parse(f"{tmp}/junit.xml").getroot().find("testsuite")
            counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
            record = {
                "command": row.command,
                "passed": done.returncode == 0,
                **counts,
                "time_s": float(suite.get("time", 0.0)),
            }
            common.write_record(row.records[0], record)
        if done.returncode == 0 or row.kind == "pytest":
            keep_code_files(row, Path(tmp) / "imports")
        done.check_returncode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--list", action="store_true", help="the rows, their commands, cost and code status"
    )
    action.add_argument(
        "--stale", action="store_true", help="the ids of the rows whose code moved on since"
    )
    action.add_argument("--rows", nargs="+", metavar="ID", help="rerun these rows, then render")
    action.add_argument("--render", action="store_true", help="rewrite the table from the JSONs")
    parser.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=common.RESULTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    by_id = {row.id: row for row in ROWS}
    failed = []
    if args.list:
        for row in ROWS:
            _, status = row_status(row, args.results)
            print(f"{row.id:30} {row.cost}\n{'':30} {row.command}\n{'':30} {status}")
        return 0
    if args.stale:
        print(" ".join(row.id for row in ROWS if row_status(row, args.results)[0]))
        return 0
    if args.rows:
        unknown = [i for i in args.rows if i not in by_id]
        if unknown:
            print(
                f"results.py: unknown row {unknown[0]!r}; the rows: {', '.join(by_id)}",
                file=sys.stderr,
            )
            return 2
        done = set()
        for row in (by_id[i] for i in args.rows):
            if row.command not in done:  # rows made by one command run it once
                try:
                    run_row(row)
                except subprocess.CalledProcessError as error:  # the others still run
                    failed.append(f"{row.id} (exit {error.returncode})")
                done.add(row.command)
    try:
        records = load_records(ROWS, args.results)
        text = rewrite_readme(args.readme.read_text(), render_table(ROWS, records))
    except (FileNotFoundError, ValueError) as error:
        print(f"results.py: {error}", file=sys.stderr)
        return 1
    from purejaxrl.outputs import atomic_write_bytes

    atomic_write_bytes(args.readme, text.encode())
    print(f"results.py: {args.readme} rewritten ({len(ROWS)} rows)")
    if args.rows and failed:
        print(f"results.py: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
