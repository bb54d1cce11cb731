"""The command line of every algorithm: parse a config and a grid, run it, print the table.

    python -m purejaxrl ppo --env-id CartPole-v1 --num-seeds 8 --lr 1e-4 3e-4
    python -m purejaxrl.ppo --env-id CartPole-v1 --num-seeds 8 --lr 1e-4 3e-4   # the same

`main(algo)` splits the CPU into devices first (`purejaxrl.devices`), finds the algorithm in
`purejaxrl.registry`, parses its config with tyro (a traced field takes several values: their
product is the grid), applies the env suite's defaults (Atari's, say) to the fields the user did
not set, runs it through `purejaxrl.runner` and prints the result table (and the algorithm's
report line, if it has one). Bad input: one line on stderr and exit code 2.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import dataclasses
import inspect
import io
import os
import re
import sys
import textwrap
import threading
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from purejaxrl import distributed, runner
from purejaxrl.checks import ConfigError
from purejaxrl.devices import split_cpu
from purejaxrl.hparams import traced_fields
from purejaxrl.outputs import FINAL_FRACTION, plural
from purejaxrl.runner import RunResult

HELP_FLAGS = ("-h", "--help")
INTERRUPTED_EXIT = 130


def format_table(result: RunResult) -> str:
    """The result table printed at the end of a CLI run."""
    s = result.summary
    # env steps; gradient steps for offline algorithms (`BaseConfig.step_unit`)
    unit = getattr(result.config, "step_unit", "env steps")
    head = (
        f"{s['algo']} on {s['env_id']}: {plural(s['num_seeds'], 'seed')} x "
        f"{plural(s['grid_points'], 'grid point')}, {s['env_steps_per_run']:,} {unit} each"
    )
    if s["status"] != "complete":
        head += f"\n{s['status']} after {s['updates_done']} of {s['num_updates']} updates"
    greedy = s.get("greedy_evaluation")
    lines = [
        head,
        "",
        f"{'grid point':<28} {'final return [95% CI]':>28} {'IQM':>10}"
        + (f" {'greedy':>8}" if greedy else ""),
    ]

    def fmt(x):
        return "n/a" if x is None else f"{x:.1f}"

    greedy_rows = greedy["results"] if greedy else [None] * len(s["results"])
    for row, greedy_row in zip(s["results"], greedy_rows, strict=True):
        ci = row["final_return_ci95"]
        ci_text = f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else ""
        lost = row["diverged_seeds"]
        lines.append(
            f"{row['grid_point'] or 'default':<28} "
            f"{fmt(row['final_return_mean']) + ci_text:>28} {fmt(row['final_return_iqm']):>10}"
            + (f" {fmt(greedy_row['greedy_return_mean']):>8}" if greedy_row else "")
            + (
                f"  ({lost} of {s['num_seeds']} seeds diverged, scored at "
                f"{fmt(row['diverged_scored_at'])})"
                if lost
                else ""
            )
        )
    diverged = {(d["grid_point"], d["seed"]) for d in s["diverged"]}
    for row in s["results"]:
        for seed, value in enumerate(row["final_return_per_seed"]):
            if value is None and (row["grid_point"], seed) not in diverged:
                lines.append(
                    f"  {row['grid_point'] or 'default'}, seed {seed}: no episode ended in the "
                    f"last {FINAL_FRACTION:.0%} of updates, so it has no final return"
                )
    played_by = getattr(result.config, "returns_played_by", "") or (
        "the training episodes (exploring policy) that ended"
    )
    lines += [
        "",
        f"final return: per seed, {played_by} in the last {FINAL_FRACTION:.0%} of updates;\na "
        "diverged seed is scored at the worst training return recorded",
    ]
    if greedy:
        lines.append(
            f"greedy: {greedy['episodes']} episodes per seed with the greedy policy after training"
        )
    lines += [
        "",
        f"compile {s['compile_time_s']:.1f} s, run {s['run_time_s']:.1f} s, "
        f"{s['steps_per_second']:,.0f} {unit}/s on {s['device']}",
    ]
    if result.run_dir is not None:
        lines.append(f"outputs: {result.run_dir}")
    return "\n".join(lines)


def field_docs(config_cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass and its bases, read from their source."""
    docs: dict[str, str] = {}
    for klass in reversed(config_cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0].body
        for node, after in zip(body, body[1:], strict=False):
            is_doc = (
                isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            )
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and is_doc:
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


@dataclasses.dataclass(frozen=True)
class CommandFlags:
    """The options every algorithm's command line has besides its config's fields."""

    resume: str = ""
    """Continue the run in this folder from its last checkpoint, with the config it was started
    with (then no other option may be given but the process flags below)."""
    num_processes: int | None = None
    """Processes of a multi-process run (jax.distributed), each running the same command; give it
    with --process-id and --coordinator-address. Under SLURM or Open MPI they are detected."""
    process_id: int | None = None
    """This process's index in [0, num_processes); process 0 writes the outputs."""
    coordinator_address: str | None = None
    """HOST:PORT of the coordinator, which runs in process 0."""
    process_timeout: int = distributed.DEFAULT_TIMEOUT_S
    """Seconds a process waits for the others (at each check-in and checkpoint barrier) before
    stopping with exit code 3 and naming the lost one."""


def process_options(flags) -> distributed.ProcessOptions:
    """The multi-process flags of parsed `flags`, checked (`ConfigError` for a bad set)."""
    return distributed.process_options(
        flags.num_processes, flags.process_id, flags.coordinator_address, flags.process_timeout
    )


COMMAND_FLAGS = tuple(f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(CommandFlags))
RESULT_NEUTRAL = ("progress", "tensorboard", "wandb_project", "compilation_cache")
"""Config fields that change how a run is shown, logged or compiled, never its numbers: `--resume`
takes them (a resumed run may show no progress bar, say)."""
SWITCHES = {"--progress", "--no-progress", "--tensorboard", "--no-tensorboard"}
"""The result-neutral flags that take no value (the on and off forms of the bool fields)."""
NEUTRAL_FLAGS = {
    **{flag: flag.removeprefix("--").removeprefix("no-") for flag in sorted(SWITCHES)},
    "--wandb-project": "wandb_project",
    "--compilation-cache": "compilation_cache",
}
"""Each result-neutral flag and the config field it sets."""
RESUME_ALLOWS = COMMAND_FLAGS + tuple(NEUTRAL_FLAGS)
"""The flags `--resume` may be given with: those that do not change the run's result."""


def cli_class(config_cls: type, defaults=None) -> type:
    """The command-line form of a config class: each traced field takes one or more values, and
    the `CommandFlags` follow the config's fields (the same names in every command line).

    `defaults` (a config instance) supplies the defaults shown and used; the class's by default.
    Each field's help ends with its per-suite defaults, if any (e.g. "On atari envs: 8.").
    """
    import tyro

    hints = typing.get_type_hints(config_cls, include_extras=True)
    hints.update(typing.get_type_hints(CommandFlags, include_extras=True))
    traced = set(traced_fields(config_cls))
    docs = field_docs(config_cls)
    fields = []
    for f in dataclasses.fields(config_cls) + dataclasses.fields(CommandFlags):
        doc = docs.get(f.name, "")
        doc = doc or field_docs(CommandFlags).get(f.name, "")
        for suite in config_cls.suites():
            values = config_cls.defaults_for_suite(suite)
            if f.name in values:
                doc += f" On {suite} envs: {values[f.name]!r}."
        default = f.default if defaults is None else getattr(defaults, f.name, f.default)
        if f.name in traced:
            doc += " Traced: several values form a grid."
            typ = Annotated[tuple[float, ...], tyro.conf.arg(help=doc)]
            fields.append((f.name, typ, dataclasses.field(default=(default,))))
        else:
            typ = Annotated[hints[f.name], tyro.conf.arg(help=doc)]
            fields.append((f.name, typ, dataclasses.field(default=default)))
    cls = dataclasses.make_dataclass(config_cls.__name__, fields, frozen=True)
    cls.__doc__ = config_cls.__doc__
    return cls


def tyro_parse(cls: type, argv: Sequence[str], prog: str | None):
    """`tyro.cli(cls, args=argv)`, with a parse error turned into a one-line `ConfigError`
    (tyro prints a box of help around it); `--help` prints and exits as usual."""
    import tyro

    captured = io.StringIO()
    argv = whole_numbers(cls, argv)
    try:
        with contextlib.redirect_stderr(captured):
            return tyro.cli(cls, args=argv, prog=prog)
    except SystemExit as stop:
        if not stop.code:
            raise
        box = captured.getvalue()
        message = first_paragraph(box).removeprefix("Error parsing ")
        hints = suggestions(box)
        if hints:
            message += f" (perhaps you meant {' or '.join(hints)})"
        raise ConfigError(message or "could not parse the options") from None


SCIENTIFIC = re.compile(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+")


def whole_numbers(cls: type, argv: Sequence[str]) -> list[str]:
    """`argv` with the values of integer options written like 1e6 or 2.5e4 (as budgets are in
    papers) turned into plain integers; a value of that form that is not whole (1e-3, 2.5e0) is
    a `ConfigError`. Every other argument is passed on as it is, for tyro to parse or refuse.
    """
    hints = typing.get_type_hints(cls)
    integer = {f"--{name.replace('_', '-')}" for name, hint in hints.items() if _integer(hint)}
    out, flag = [], None
    for arg in argv:
        name, eq, value = arg.partition("=")
        if arg.startswith("--"):
            flag = name if name in integer else None
            if not (eq and flag):
                out.append(arg)
                continue
            out.append(f"{name}={_whole(name, value)}")
            flag = None  # its value was given with "="
        else:
            out.append(_whole(flag, arg) if flag else arg)
    return out


def _integer(hint) -> bool:
    """Whether an option of this type takes integers: int, int | None, tuple[int, ...]."""
    if hint is int:
        return True
    args = [a for a in typing.get_args(hint) if a is not type(None) and a is not Ellipsis]
    return typing.get_origin(hint) is not None and bool(args) and all(a is int for a in args)


def _whole(flag: str, text: str) -> str:
    if not SCIENTIFIC.fullmatch(text):
        return text
    value = float(text)
    if not value.is_integer():
        raise ConfigError(f"{flag}={text}: must be a whole number")
    return str(int(value))


def suggestions(box: str) -> list[str]:
    """The flags tyro suggests under "Perhaps you meant:" in its error box, e.g. ["--lr"]."""
    for section in box_sections(box):
        if section[0] == "Perhaps you meant:":
            flags = [row.split()[0] for row in section[1:] if row.startswith("--")]
            return list(dict.fromkeys(flags))
    return []


def box_sections(box: str) -> list[list[str]]:
    """The text rows of each section of the box tyro prints an error in, the title left out.

    On a terminal the box is drawn with box-drawing characters and its title sits in the top
    border; elsewhere (a captured stream, say) rich may draw rules of dashes only, the title on
    a row of its own above the first rule.
    """
    rows = [row.strip().strip("│┃|").strip() for row in box.splitlines()]
    rows = [row for row in rows if row]

    def is_rule(row: str) -> bool:
        return row[:1] in ("╭", "┏", "╰", "┗", "+") or not row.strip("─━-═")

    sections: list[list[str]] = [[]]
    for row in rows:
        if is_rule(row):
            sections.append([])
        else:
            sections[-1].append(row)
    if rows and not is_rule(rows[0]):
        sections = sections[1:]  # the title, above the first rule
    return [section for section in sections if section]


def first_paragraph(box: str) -> str:
    """The text of the first section of the box tyro prints an error in, as one line."""
    sections = box_sections(box)
    return " ".join(sections[0]) if sections else ""


def parse_args(config_cls: type, argv: Sequence[str] | None = None, prog: str | None = None):
    """(config, grid_values) from the command line (the `CommandFlags` are ignored here)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return config_from_flags(config_cls, parse_flags(config_cls, argv, prog), argv, prog)


def parse_flags(config_cls: type, argv: Sequence[str], prog: str | None = None):
    """Every option parsed at the class defaults, `--help` left out: what the command needs to
    know before JAX starts (the process flags, `--resume`, the env id). Reads no environment."""
    if argv and argv[-1] == "--resume":
        raise ConfigError(
            "--resume: give the run folder to continue, e.g. --resume runs/.../<time>"
        )
    return tyro_parse(cli_class(config_cls), [a for a in argv if a not in HELP_FLAGS], prog)


def config_from_flags(config_cls: type, first, argv: Sequence[str], prog: str | None = None):
    """(config, grid_values) from the parsed flags `first` (`parse_flags`).

    The env suite's defaults (`config_cls.suite_defaults`, e.g. Atari's) replace the class
    defaults of every field the user did not set: tyro parsed once with the class defaults to
    learn the env id, and parses again with that env's defaults, which `--help` then shows.
    """
    wants_help = any(arg in HELP_FLAGS for arg in argv)
    defaults = config_cls.for_env(first.env_id)
    args = first
    if wants_help or defaults != config_cls(env_id=first.env_id):
        args = tyro_parse(cli_class(config_cls, defaults), argv, prog)
    values = {name: getattr(args, name) for name in traced_fields(config_cls)}
    for name, v in values.items():
        if not v:
            raise ConfigError(f"{name}: give at least one value")
    static = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_cls)}
    config = config_cls(**{**static, **{name: v[0] for name, v in values.items()}})
    return config, {name: v for name, v in values.items() if len(v) > 1}


def resume_args(config_cls: type, algo: str, run_dir: str, argv: Sequence[str], flags=None):
    """(config, grid values) of the run in `run_dir`, to go on with `--resume`.

    The run goes on with the config it was started with, read from the folder's config.json, so
    no flag may be given with `--resume` but those in `RESUME_ALLOWS`: the process flags and the
    result-neutral ones (`RESULT_NEUTRAL`), whose values `flags` (`parse_flags`) holds.
    """
    from purejaxrl.outputs import RunFolderError, config_from_record, read_record

    rest, skip, given = [], False, {}
    for arg in argv:
        name = arg.partition("=")[0]
        if name in NEUTRAL_FLAGS:
            given[NEUTRAL_FLAGS[name]] = True
        if skip or (name in RESUME_ALLOWS and ("=" in arg or name in SWITCHES)):
            skip = False
        elif name in RESUME_ALLOWS:
            skip = True  # its value follows
        else:
            rest.append(arg)
    if rest:
        budget = any(arg.startswith("--total-timesteps") for arg in rest)
        why = (
            "; a longer budget is not added to a run: its folder records one config, and "
            "where the algorithm has schedules (learning-rate annealing, exploration decay) "
            "they are laid out over the budget the run started with; start a new run instead"
            if budget
            else ""
        )
        raise ConfigError(
            f"--resume takes the run folder, the process flags and the display flags "
            f"({', '.join(NEUTRAL_FLAGS)}) only (got also {' '.join(rest)}): the run goes on "
            f"with the config it was started with{why}"
        )
    record = read_record(run_dir)
    if record["algo"] != algo:
        raise RunFolderError(
            f"{run_dir} is a {record['algo']} run: resume it with "
            f"python -m purejaxrl.{record['algo']} --resume {run_dir}"
        )
    config, grid_values = config_from_record(config_cls, record, Path(run_dir) / "config.json")
    if given and flags is not None:
        config = dataclasses.replace(config, **{name: getattr(flags, name) for name in given})
    return config, grid_values


def main(algo: str, argv: Sequence[str] | None = None, prog: str | None = None) -> RunResult | None:
    """Command-line entry of the registry's algorithm `algo` (`python -m purejaxrl.<algo>`).

    Exit codes: 0 done (or `--resume` of a complete run, which changes nothing and returns
    None); 2 bad input (one line on stderr) or runs whose loss became non-finite; 130 stopped by
    SIGINT/SIGTERM: during training after a checkpoint (the line printed says how to resume),
    before it (a new run's folder is removed, a resumed one is left as it was); 3 another
    process of a multi-process run was lost (`purejaxrl.distributed`).
    """
    from purejaxrl import registry
    from purejaxrl.checkpoints import CheckpointError

    argv = list(sys.argv[1:] if argv is None else argv)
    run_dir = None
    try:
        with runner.StopRequests() as stop:  # SIGTERM while compiling ends like Ctrl-C
            split_cpu()  # before anything imports gymnax, which starts JAX's backends
            algorithm = registry.get(algo)
            config_cls = algorithm.config_cls
            prog = prog or f"python -m purejaxrl.{algo}"
            flags = parse_flags(config_cls, argv, prog)
            processes = process_options(flags)
            # before the config: the env id's suite is looked up in gymnax, whose import starts JAX
            distributed.initialize(processes)
            run_dir = flags.resume or None
            if run_dir is None:
                config, grid_values = config_from_flags(config_cls, flags, argv, prog)
            else:
                config, grid_values = resume_args(config_cls, algo, run_dir, argv, flags)
            stop.check()
            result = runner.run(
                config, algorithm.make_learner, algo, grid_values, resume=run_dir,
                process_timeout=processes.timeout_s, stop=stop,
            )  # fmt: skip
    except (ConfigError, CheckpointError, registry.UnknownAlgorithmError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except runner.RunComplete as done:
        distributed.say(str(done))
        return None
    except distributed.LostProcessError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        os._exit(3)  # JAX's shutdown would wait for the lost process
    except KeyboardInterrupt as stop:  # before training: while compiling, say
        name = getattr(stop, "signal_name", "SIGINT")
        if run_dir is None:
            told = "stopped before training started; nothing was kept, nothing to resume"
        else:
            told = f"stopped before training went on; {run_dir} is as it was"
        print(f"{name}: {told}", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT)
    primary = distributed.is_primary()  # process 0 prints the table and any message
    if primary:
        print(format_table(result))
        report = algorithm.make_report
        line = None if report is None or result.run_dir is None else report(result)
        if line:
            print(line)
    s = result.summary
    if result.status == "interrupted":
        where = result.run_dir
        if primary:
            print(
                f"{s['stopped_by']}: stopped after update {s['updates_done']} of "
                f"{s['num_updates']}; outputs so far in {where}; resume with: "
                f"python -m purejaxrl.{algo} --resume {where}",
                file=sys.stderr,
            )
        sys.exit(INTERRUPTED_EXIT)
    if result.diverged:
        runs = ", ".join(
            f"seed {d['seed']} ({d['grid_point'] or 'the only grid point'}) at update {d['update']}"
            for d in result.diverged
        )
        if primary:
            print(
                f"error: {len(result.diverged)} run(s) diverged (non-finite loss): {runs}; try a "
                "smaller lr (or max_grad_norm where the algorithm has one)",
                file=sys.stderr,
            )
        sys.exit(2)
    return result


def usage() -> str:
    """`purejaxrl --help`: the commands, one line per registry row."""
    from purejaxrl import registry

    lines = [
        "usage: purejaxrl ALGO [options]      train (ALGO --help lists its options)",
        "       purejaxrl evaluate RUN_DIR    greedy episodes of a run's checkpoint",
        "       purejaxrl collect RUN_DIR --out PATH   a dataset of a run's policy (--help)",
        "",
        "algorithms:",
    ]
    width = max(map(len, registry.ALGORITHMS))
    for row in registry.ALGORITHMS.values():
        lines.append(f"  {row.name:<{width}}  {row.summary} ({row.family})")
    return "\n".join(lines)


def run_as_process(entry: typing.Callable[[], object]) -> typing.NoReturn:
    """Runs `entry` as the whole process and exits with its code, skipping the interpreter's
    teardown: by then every output is written and closed, and what is left is freeing thousands
    of modules and JAX's compiled programs one by one (0.5-1 s of a small run here). Threads that
    are not daemons are still joined, atexit handlers (JAX's distributed client, W&B) still run
    and the output streams are flushed, as at a normal exit. An exception other than SystemExit
    propagates as usual."""
    try:
        entry()
        code = 0
    except SystemExit as stop:
        code = stop.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def console() -> typing.NoReturn:
    """The `purejaxrl` script: `command` as the whole process (`run_as_process`)."""
    run_as_process(command)


def command(argv: Sequence[str] | None = None) -> None:
    """The `purejaxrl` script and `python -m purejaxrl`: `ALGO [options]`, `evaluate RUN_DIR` or
    `collect [RUN_DIR] --out PATH`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in HELP_FLAGS:
        print(usage())
        sys.exit(0 if argv else 2)
    name, rest = argv[0], argv[1:]
    if name == "evaluate":
        from purejaxrl.evaluate import main as evaluate_main

        evaluate_main(rest, prog="purejaxrl evaluate")
        return
    if name == "collect":
        from purejaxrl.collect import main as collect_main

        collect_main(rest, prog="purejaxrl collect")
        return
    main(name, rest, prog=f"purejaxrl {name}")
