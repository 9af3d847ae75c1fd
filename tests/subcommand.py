"""The command-line entry of the tests' multi-command modules: `python3 tests/MODULE.py COMMAND
ARGS...` runs COMMANDS[COMMAND] with sys.argv set to [MODULE, ARGS...], as the inline script each
command was written as expects; an unknown command prints the module's docstring and exits 2."""
import sys


def run(doc, commands):
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(doc, file=sys.stderr)
        sys.exit(2)
    command = commands[sys.argv[1]]
    sys.argv = [sys.argv[0]] + sys.argv[2:]
    command()
