"""Names (make, model, owner): what a name may contain, how it is stored, and when two are the same.

A name is 1-50 characters once surrounding whitespace is trimmed, stored NFC-normalized. It may
not contain a control, format, private-use, unassigned or surrogate code point, a line or paragraph
separator, or a Default_Ignorable_Code_Point (zero-width characters, variation selectors, bidi
controls, fillers): characters that render as nothing would let two names that look the same differ.

`name_pattern()` states the same rule as an ECMA-262 regular expression for openapi.json, built
from the same table and the same Unicode data as `clean_name` (this Python's `unicodedata`), so
they agree character for character, but for unassigned code points: the code refuses them, the
pattern does not list them (some 700 ranges, which would make the pattern 14 KB and every
generator of test data ten times slower).

Two names are the same owner when their `name_key`s are equal: NFKC, case folding and trimming, so
fullwidth or mathematical letters, NFD and ligatures do not make a new owner. Letters of different
scripts that look alike (Cyrillic A, U+0410, and Latin A) stay different: NFKC does not fold them, and a
UTS #39 confusable skeleton would also merge real, distinct names.
"""

from __future__ import annotations

import functools
import re
import unicodedata

MAX_NAME_LENGTH = 50

# What trimming removes: exactly the characters `str.isspace()` holds to be whitespace.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

# Default_Ignorable_Code_Point, as DerivedCoreProperties.txt lists it in Unicode 16.0.0 (the same
# 4,174 code points since 14.0.0 added U+180F). Ranges that the file lists side by side are merged.
DEFAULT_IGNORABLE: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors and vowel separator
    (0x200B, 0x200F),  # zero width space, non-joiner, joiner; left-to-right and right-to-left marks
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated format characters
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors 1-16
    (0xFEFF, 0xFEFF),  # zero width no-break space (byte order mark)
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),  # reserved
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol beams, ties, slurs and phrases
    (0xE0000, 0xE0FFF),  # tags, variation selectors 17-256 (U+E0100-E01EF), reserved
)

# Refused wherever they are: Cc (controls), Cf (format), Cs (surrogates), Co (private use),
# Cn (unassigned), Zl and Zp (line and paragraph separators; whitespace, so trimmed at the ends).
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_LISTED_CATEGORIES = REFUSED_CATEGORIES - {"Cs", "Cn"}  # in the published pattern


def _ecma(code_point: int) -> str:
    # \uXXXX reads the same in ECMA-262, Python and Rust regexes; an astral code point is written as
    # itself, which ECMA-262 (with the u flag JSON Schema validators use), Python and Rust all read.
    return f"\\u{code_point:04x}" if code_point <= 0xFFFF else chr(code_point)


def _char_class(ranges: list[tuple[int, int]]) -> str:
    """The body of a regex character class holding these ranges, merged where they touch."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return "".join(_ecma(a) if a == b else f"{_ecma(a)}-{_ecma(b)}" for a, b in merged)


_CONTROLS = [(0x00, 0x1F), (0x7F, 0x9F)]
# Caught by one regex search, so that an ASCII name needs no lookup per character.
_IGNORABLE_OR_CONTROL = re.compile(f"[{_char_class([*DEFAULT_IGNORABLE, *_CONTROLS])}]")
_IGNORABLE = re.compile(f"[{_char_class(list(DEFAULT_IGNORABLE))}]")


@functools.cache
def name_pattern() -> str:
    """A name as openapi.json states it: trimmed length 1-50, none of the refused characters.

    The refused categories are read from `unicodedata` once, when openapi.json is first built
    (about 0.1 s). Unassigned code points are left out (see above), and so are surrogates: JSON
    text that decodes to one is refused before any model sees it.
    """
    refused = list(DEFAULT_IGNORABLE)
    start = None
    for code_point in range(0x110001):
        category = unicodedata.category(chr(code_point)) if code_point <= 0x10FFFF else ""
        if category in _LISTED_CATEGORIES:
            start = code_point if start is None else start
        elif start is not None:
            refused.append((start, code_point - 1))
            start = None
    spaces = [(ord(ch), ord(ch)) for ch in WHITESPACE]
    space = f"[{_char_class(spaces)}]"
    visible = f"[^{_char_class(spaces + refused)}]"  # may start or end a name
    inside = f"[^{_char_class(refused)}]"
    return f"^{space}*{visible}(?:{inside}{{0,{MAX_NAME_LENGTH - 2}}}{visible})?{space}*$"


def clean_name(value: str) -> str:
    """The name as stored: trimmed and NFC-normalized; `ValueError` saying what is wrong with it."""
    text = value.strip(WHITESPACE)
    if not 1 <= len(text) <= MAX_NAME_LENGTH:
        raise ValueError(f"must be 1-{MAX_NAME_LENGTH} characters after trimming spaces")
    found = _IGNORABLE_OR_CONTROL.search(text)
    refused = found.group() if found else None
    if refused is None and not text.isascii():
        # At most 50 characters: a lookup each.
        refused = next((ch for ch in text if unicodedata.category(ch) in REFUSED_CATEGORIES), None)
    if refused is not None:
        raise ValueError(f"must not contain {_describe(refused)}: no control or invisible characters")
    return unicodedata.normalize("NFC", text)


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} {name}" if name else f"U+{ord(ch):04X}"


def name_key(name: str) -> str:
    """What two names must share to be the same person: NFKC, case-folded, trimmed.

    NFKC again after case folding, as Unicode's NFKC_Casefold does (folding can undo NFKC), and
    default-ignorable characters dropped, so names stored before they were refused compare too.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return _IGNORABLE.sub("", folded).strip(WHITESPACE)


def same_name(a: str, b: str) -> bool:
    return name_key(a) == name_key(b)
