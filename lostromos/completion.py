"""Shell completion, as `helm completion` and `kubectl completion` offer it:
`source <(lostromos completion bash)` (or zsh). The script asks the program
itself (`lostromos __complete WORDS...`) what may come next, so completion
follows the argparse tree and can never fall behind the commands and flags."""

from __future__ import annotations

import argparse

COMPLETE = "__complete"

_BASH = """# lostromos completion for bash: source <(lostromos completion bash)
_lostromos() {
    local IFS=$'\\n'
    COMPREPLY=($(lostromos __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -o nosort -F _lostromos lostromos
"""
_ZSH = """# lostromos completion for zsh: source <(lostromos completion zsh)
autoload -U +X bashcompinit && bashcompinit
""" + _BASH.split("\n", 1)[1]
SCRIPTS = {"bash": _BASH, "zsh": _ZSH}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings}


def candidates(parser: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """What may follow `lostromos WORDS[:-1]`, starting with the partial WORDS[-1].
    Nothing means "a file name" (the shell's default completion)."""
    *typed, current = words or [""]
    here, awaiting = parser, None
    for word in typed:
        if awaiting is not None:
            awaiting = None
            continue
        if word in _subcommands(here):
            here = _subcommands(here)[word]
            continue
        action = _options(here).get(word.split("=", 1)[0])
        if action is not None and action.nargs != 0 and "=" not in word:
            awaiting = action
    if awaiting is not None:
        offered = [str(choice) for choice in awaiting.choices or ()]
    elif current.startswith("-"):
        offered = [
            flag for flag, action in _options(here).items() if action.help != argparse.SUPPRESS
        ]
    else:
        offered = list(_subcommands(here))
        for action in here._actions:
            if (
                not action.option_strings
                and action.choices
                and not isinstance(action, argparse._SubParsersAction)
            ):
                offered += [str(choice) for choice in action.choices]
    return [word for word in offered if word.startswith(current)]
