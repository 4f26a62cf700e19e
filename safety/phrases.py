"""Matching customer messages against the crisis phrases (SPEC §12), without Django.

A message and every phrase are brought to one normal form before they are compared:
accents dropped, case folded, the number-for-letter swaps people type (``d1ri``,
``m4ti``, ``bun*h`` is not one), anything that is not a letter or digit made a space,
and every run of one repeated character made one (``matiii`` → ``mati``, two spaces →
one). A phrase matches where its normal form stands as whole words in the message's.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_SWAPS = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "i"})
_SEPARATORS = re.compile(r"[\W_]+")
_REPEATS = re.compile(r"(.)\1+")


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    swapped = letters.casefold().translate(_SWAPS)
    spaced = _SEPARATORS.sub(" ", swapped)
    return _REPEATS.sub(r"\1", spaced).strip()


class PhraseMatcher:
    """One compiled pattern for a list of phrases; ``find`` gives the phrases (as they
    were written in the list) that a text contains, each once, in list order."""

    def __init__(self, phrases: tuple[str, ...]) -> None:
        self.by_form: dict[str, str] = {}
        for phrase in phrases:
            self.by_form.setdefault(normalise(phrase), phrase)
        self.by_form.pop("", None)
        # longest first, so "ingin mengakhiri hidup" wins over "mengakhiri hidup" where both stand
        forms = sorted(self.by_form, key=len, reverse=True)
        self.pattern = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(form) for form in forms) + r")(?!\w)") if forms else None
        )
        self.order = {phrase: index for index, phrase in enumerate(phrases)}

    def find(self, text: str) -> list[str]:
        if self.pattern is None or not text:
            return []
        found = {self.by_form[match.group(0)] for match in self.pattern.finditer(normalise(text))}
        return sorted(found, key=self.order.__getitem__)


@lru_cache(maxsize=8)
def matcher_for(phrases: tuple[str, ...]) -> PhraseMatcher:
    """The matcher of a phrase list, compiled once per list (the list is a live setting)."""
    return PhraseMatcher(phrases)
