"""`python -m purejaxrl ALGO [options]`: any algorithm of the registry; `--help` lists them."""

from purejaxrl.cli import command

if __name__ == "__main__":
    command()
