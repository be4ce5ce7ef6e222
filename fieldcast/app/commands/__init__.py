"""Subcommands of the ``fieldcast`` command line.

Each module here defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. Modules are
imported only when their subcommand runs, so ``fieldcast --help`` stays fast and torch is never imported
for a command that does not train.
"""

# Subcommand name -> module holding it, in the order ``--help`` lists them.
COMMANDS: dict[str, str] = {
    "generate": "fieldcast.app.commands.generate",
    "info": "fieldcast.app.commands.info",
    "import": "fieldcast.app.commands.import_data",
    "train": "fieldcast.app.commands.train",
    "export": "fieldcast.app.commands.export",
    "bench": "fieldcast.app.commands.bench",
    "eval": "fieldcast.app.commands.eval",
    "report": "fieldcast.app.commands.report",
    "play": "fieldcast.app.commands.play",
}
