"""Here-documents: which words open one, and what their bodies become.

BuildKit finds heredocs by splitting the whole instruction line into shell
words (quotes and escapes kept raw) and matching each word against
``^(\\d*)<<(-?)([^<]*)$``.  So ``cat <<EOF`` opens one but ``cat<<EOF`` and
``"<<EOF"`` do not.  The name is the word with its quotes removed; any quoting
(``<<"EOF"``, ``<<'EOF'``, ``<<E"O"F``) turns expansion of the body off.

This module owns that word-level logic (:func:`heredoc_words`,
:func:`parse_heredoc_word`) and :func:`chomp`.  Reading the body lines is done
by :mod:`ocibuild.dockerfile.syntax`.  The executor uses
:func:`parse_heredoc_word` to tell heredoc sources of COPY/ADD from paths.
"""

from __future__ import annotations

import re

from ocibuild._record import record

__all__ = ["HeredocWord", "chomp", "heredoc_words", "parse_heredoc_word"]

_HEREDOC = re.compile(r"(\d*)<<(-?)([^<]*)")
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)


@record
class HeredocWord:
    """What a ``<<NAME`` word says: the delimiter and how to treat the body."""

    name: str
    expand: bool
    chomp: bool
    fd: int | None = None


def chomp(content: str) -> str:
    """Remove leading tabs from every line (the ``<<-`` form)."""
    return _LEADING_TABS.sub("", content)


def parse_heredoc_word(word: str) -> HeredocWord | None:
    """The heredoc that ``word`` opens (``<<EOF``, ``<<-"EOF"``, ``3<<EOF``), or None."""
    match = _HEREDOC.fullmatch(word)
    if match is None or not match.group(3):
        return None
    fd_text, dash, rest = match.groups()
    unquoted = _shell_words(rest, raw_quotes=False, raw_escapes=False)
    if len(unquoted) != 1:
        return None
    quotes_kept = _shell_words(rest, raw_quotes=True, raw_escapes=False)
    name = unquoted[0]
    if not name:
        return None
    expand = _count_quotes(name) == _count_quotes(quotes_kept[0])
    return HeredocWord(name, expand, dash == "-", int(fd_text) if fd_text else None)


def heredoc_words(line: str) -> list[HeredocWord]:
    """Every heredoc opened on an instruction line, in order."""
    found = []
    for word in _shell_words(line, raw_quotes=True, raw_escapes=True):
        heredoc = parse_heredoc_word(word)
        if heredoc is not None:
            found.append(heredoc)
    return found


def _count_quotes(text: str) -> int:
    return text.count("'") + text.count('"')


def _shell_words(text: str, *, raw_quotes: bool, raw_escapes: bool) -> list[str]:
    """Split ``text`` like BuildKit's shell lexer with an empty environment.

    Variables are left as written (``SkipUnsetEnv``); ``${...}`` is one chunk so
    blanks inside it do not split words.
    """
    words: list[str] = []
    word: list[str] = []
    in_word = False
    pos, n = 0, len(text)
    while pos < n:
        ch = text[pos]
        if ch.isspace():
            if in_word:
                words.append("".join(word))
            word, in_word = [], False
            pos += 1
            continue
        in_word = True
        if ch == "'":
            end = text.find("'", pos + 1)
            end = n if end < 0 else end
            word.append(text[pos : end + 1] if raw_quotes else text[pos + 1 : end])
            pos = end + 1
        elif ch == '"':
            pos = _double_quoted(text, pos, word, raw_quotes, raw_escapes)
        elif ch == "\\" and pos + 1 < n:
            word.append(text[pos : pos + 2] if raw_escapes else text[pos + 1])
            pos += 2
        elif text.startswith("${", pos):
            end = text.find("}", pos)
            end = n - 1 if end < 0 else end
            word.append(text[pos : end + 1])
            pos = end + 1
        else:
            word.append(ch)
            pos += 1
    if in_word:
        words.append("".join(word))
    return words


def _double_quoted(
    text: str, pos: int, word: list[str], raw_quotes: bool, raw_escapes: bool
) -> int:
    """Append the double-quoted string at ``pos`` to ``word``; return the end."""
    if raw_quotes:
        word.append('"')
    pos += 1
    n = len(text)
    while pos < n and text[pos] != '"':
        ch = text[pos]
        if ch == "\\" and pos + 1 < n:
            nxt = text[pos + 1]
            keep = raw_escapes or nxt not in '"$\\`'
            word.append(ch + nxt if keep else nxt)
            pos += 2
            continue
        word.append(ch)
        pos += 1
    if raw_quotes and pos < n:
        word.append('"')
    return pos + 1
