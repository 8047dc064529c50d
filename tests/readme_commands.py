"""The commands of README.md's code blocks, read the way a user reads them: one shell line each.

A command that cannot run on a laptop CPU says so in its own comment with a tag (`[GPU]`,
`[multi-GPU]`, `[SLURM]`, `[network]`, `[long run]`, `[server UI]`); tests then check that its
configuration composes instead of running it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

COMPOSE_ONLY_TAGS = ("[GPU]", "[multi-GPU]", "[SLURM]", "[network]", "[long run]", "[server UI]")
# The setup lines of the "without make" block and the test command itself: CI runs those.
SETUP_PREFIXES = ("pip ", "python3 -m venv", ". .venv/bin/activate", "pytest", "make test")
PROGRAMS = ("python", "python3", "make", "torchrun", "wandb", "mlflow", "pytest", "pip", ".")
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class ReadmeCommand:
    """One command as printed in the README, with its tag if it cannot run here."""

    text: str  # the command without its comment, continuation lines joined
    line: int  # 1-based line of the README where it starts
    tag: str | None  # a COMPOSE_ONLY_TAGS entry, or None: run it

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)

    @property
    def is_setup(self) -> bool:
        return self.text.startswith(SETUP_PREFIXES)

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.text}"


def shell_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of every ```bash / ```sh / ``` block."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] | None = None
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        fence = FENCE.match(line.strip())
        if fence and current is None:
            if fence.group(1) in ("bash", "sh", "shell", ""):
                current, start = [], number + 1
            else:
                current, start = ["<not shell>"], number + 1
        elif line.strip().startswith("```") and current is not None:
            if current[:1] != ["<not shell>"]:
                blocks.append((start, current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def split_comment(line: str) -> tuple[str, str]:
    """(code, comment) of one shell line: a `#` outside quotes that starts a word begins the comment."""
    quote: str | None = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index + 1 :].strip()
    return line.rstrip(), ""


def readme_commands(readme: Path) -> list[ReadmeCommand]:
    """Every command of the README's shell blocks; `a && b` gives two commands with the same tag.

    A tag counts in the command's own comment or in the comment lines just above it.
    """
    commands: list[ReadmeCommand] = []
    for start, lines in shell_blocks(readme.read_text()):
        pending, pending_line, comments = "", 0, []
        for offset, raw in enumerate(lines):
            code, comment = split_comment(raw)
            comments.append(comment)
            if not pending:
                pending_line = start + offset
            if code.endswith("\\"):
                pending += code[:-1].strip() + " "
                continue
            pending += code.strip()
            if not pending:  # a comment line: its tag goes with the next command
                continue
            if pending.split()[0] in PROGRAMS:
                tag = next((t for t in COMPOSE_ONLY_TAGS if any(t in c for c in comments)), None)
                for part in pending.split(" && "):
                    commands.append(ReadmeCommand(part.strip(), pending_line, tag))
            pending, comments = "", []
    return commands


SWEEP_VALUE = re.compile(r"^([\w./@+-]+)=([^'\"\[{(]*?,[^'\"]*)$")


def first_job(argv: list[str]) -> list[str]:
    """A multirun command as its first job: no `-m`, each swept `key=a,b` as `key=a`."""
    single = []
    for arg in argv:
        if arg in ("-m", "--multirun"):
            continue
        match = SWEEP_VALUE.match(arg)
        single.append(f"{match.group(1)}={match.group(2).split(',')[0]}" if match else arg)
    return single
