"""`python -m purejaxrl ALGO [options]`: any algorithm of the registry; `--help` lists them."""

from purejaxrl.cli import command, run_as_process

if __name__ == "__main__":
    run_as_process(command)
