"""calllog-pipeline: the project's command line.

Each command lives in its own module, which adds its parser in ``register(commands)`` and sets
``run`` (a function of the parsed arguments returning the exit code).
"""

import argparse
import sys

from calllog_pipeline import demo, doctor, ui
from calllog_pipeline.qa import report
from calllog_pipeline.simulator import server

COMMANDS = (server, demo, report, ui, doctor)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="calllog-pipeline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
