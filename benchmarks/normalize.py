"""The text normaliser applied to references and transcripts before word error rate is computed.

Word error rate should count words the model got wrong, not the way a correct word was written. Both sides go
through the same steps, in this order:

1. Unicode NFKC, then casefold (lowercase that also folds e.g. German sharp s: "Straße" -> "strasse").
2. Thousands separators inside numbers are dropped ("1,000" -> "1000").
3. Numbers written with digits are spelled out in English words: integers ("25" -> "twenty five"), ordinals
   ("4th" -> "fourth"), decimals ("2.5" -> "two point five"), and integers from 1100 to 1999 the way years are
   said ("1961" -> "nineteen sixty one"). The references write numbers as words, so this makes "25 minutes" and
   "twenty five minutes" the same. Only for English: a German "20" stays "20" and counts as one wrong word.
4. "%" -> "percent", "&" -> "and".
5. Apostrophes are removed without a space ("don't" -> "dont", "Nature's" -> "natures"); every other punctuation
   mark or symbol becomes a space ("self-evident" -> "self evident", "Oh dear!" -> "oh dear").
6. Whitespace is collapsed; the result is a string of words separated by single spaces.

Accents are kept ("fährt", "légumes"): dropping them would hide real mistakes in German, Spanish and French. Spelling
variants (colour/color) are not mapped; the references use American spellings instead.
"""

from __future__ import annotations

import re
import unicodedata

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
_ORDINAL_WORDS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
    "twelve": "twelfth",
}
_APOSTROPHES = "'\u2019\u2018\u02bc`"

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_NUMBER = re.compile(r"(?<![\w.])(\d+)(?:\.(\d+))?(st|nd|rd|th)?(?!\w)")


def normalize(text: str, language: str = "en") -> str:
    """One transcript or reference -> lowercase words separated by single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _THOUSANDS.sub("", text)
    if language == "en":
        text = _NUMBER.sub(_spell_number, text)
    text = text.replace("%", " percent ").replace("&", " and ")
    for mark in _APOSTROPHES:
        text = text.replace(mark, "")
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    return " ".join(text.split())


def _spell_number(match: re.Match) -> str:
    integer, decimals, suffix = match.group(1), match.group(2), match.group(3)
    if decimals is not None:
        return f" {_cardinal(int(integer))} point {' '.join(_ONES[int(d)] for d in decimals)} "
    value = int(integer)
    if suffix:
        return f" {_ordinal(value)} "
    if 1100 <= value <= 1999 and len(integer) == 4:
        return f" {_year(value)} "
    return f" {_cardinal(value)} "


def _cardinal(value: int) -> str:
    if value < 20:
        return _ONES[value]
    if value < 100:
        tens, ones = divmod(value, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    for scale, name in _SCALES:
        if value >= scale:
            high, rest = divmod(value, scale)
            return f"{_cardinal(high)} {name}" + (f" {_cardinal(rest)}" if rest else "")
    raise AssertionError("unreachable")


def _ordinal(value: int) -> str:
    words = _cardinal(value).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _year(value: int) -> str:
    century, rest = divmod(value, 100)
    if rest == 0:
        return f"{_cardinal(century)} hundred"
    if rest < 10:
        return f"{_cardinal(century)} oh {_ONES[rest]}"
    return f"{_cardinal(century)} {_cardinal(rest)}"
