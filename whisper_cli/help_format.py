"""Plain-text --help with options grouped under their panels, the way man pages and git group them.

Typer's Rich help draws boxes but imports Rich's Markdown stack (markdown_it and friends) on every --help,
which costs about 0.25 s on a small machine; click's own formatter prints the same text at a fraction of
that. This command class keeps the groups (each option's `rich_help_panel`) and drops the boxes.
"""

from __future__ import annotations

from typer.core import TyperCommand

OTHER_OPTIONS = "Options"


class GroupedHelpCommand(TyperCommand):
    def format_options(self, ctx, formatter) -> None:
        arguments: list[tuple[str, str]] = []
        panels: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append(record)
            else:
                panels.setdefault(getattr(param, "rich_help_panel", None) or OTHER_OPTIONS, []).append(record)
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        # Panels in the order their first option is declared; options without a panel (--help ...) last.
        for title in sorted(panels, key=lambda name: name == OTHER_OPTIONS):
            with formatter.section(title):
                formatter.write_dl(panels[title])
