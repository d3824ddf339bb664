"""A Rich table laid out for the terminal it is printed in, without cutting values.

Free of pandas, so that light commands (``config``, ``clients``) can use it cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table

__all__ = ["FittedTable"]

# A text column squeezed below its longest word keeps at least this many characters a line.
_MIN_FOLDED = 6


class FittedTable(Table):
    """A Rich table that fits the terminal without cutting values.

    Rich shrinks the widest columns first, even when that breaks a word (a model name, a path)
    that another column could have made room for by wrapping at a space. When the table is too
    wide, this one gives every column its longest word first (a ``no_wrap`` column, numbers and
    dates, its longest value) and shares what is left so that as few columns as possible wrap.
    If that is still too wide, values wrap at their spaces too; only when even the longest
    words do not fit do text columns fold inside a word. Every column wraps or folds rather
    than being cropped or ending in an ellipsis. A column's ``max_width`` caps its share."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self._fitted_widths(console, options)
        natural = self.columns
        # Rich crops a no-wrap cell that has no room; wrapping (folding at worst) loses nothing.
        if widths is None:
            self.columns = [replace(c, no_wrap=False) for c in natural]
        else:
            self.columns = [
                replace(c, width=w, no_wrap=False) for c, w in zip(natural, widths, strict=True)
            ]
        try:
            yield from super().__rich_console__(console, options)
        finally:
            self.columns = natural

    def _fitted_widths(self, console: Console, options: ConsoleOptions) -> list[int] | None:
        """Content widths (padding excluded) that fit, or None to let Rich lay it out."""
        if not self.columns:
            return None
        edges = (2 if self.box and self.show_edge else 0) + (
            len(self.columns) - 1 if self.box else 0
        )
        _, pad_right, _, pad_left = self.padding
        padding = (pad_left + pad_right) * len(self.columns)
        room = (self.width or options.max_width) - edges - padding
        measure = options.update_width(max(1, room))
        whole: list[int] = []  # narrowest without breaking a word or a no-wrap value
        words: list[int] = []  # narrowest without breaking a word
        highs: list[int] = []  # every cell on one line
        for column in self.columns:
            header = Measurement.get(console, measure, column.header)
            cells = [Measurement.get(console, measure, cell) for cell in column.cells]
            # Numbers and dates (no_wrap): a value is one word, however it is spaced.
            values = (c.maximum if column.no_wrap else c.minimum for c in cells)
            cap = column.max_width or room
            highs.append(min(cap, max([header.maximum, *(c.maximum for c in cells)])))
            words.append(min(cap, max([header.minimum, *(c.minimum for c in cells)])))
            whole.append(min(cap, max([header.minimum, *values])))
        if sum(highs) <= room:
            return None
        if sum(whole) <= room:
            return _share(whole, highs, room)
        if sum(words) <= room:
            # Values wrap at their spaces only when nothing else is left to wrap.
            return _share(_share(words, whole, room), highs, room)
        # Not even the longest words fit: text columns fold inside words, values wrap.
        text = [i for i, c in enumerate(self.columns) if not c.no_wrap]
        fixed = sum(w for i, w in enumerate(words) if i not in text)
        floors = [min(words[i], _MIN_FOLDED) for i in text]
        if not text or fixed + sum(floors) > room:
            return None
        widths = list(words)
        squeezed = _share(floors, [words[i] for i in text], room - fixed)
        for i, width in zip(text, squeezed, strict=True):
            widths[i] = width
        return widths


def _share(lows: Sequence[int], highs: Sequence[int], room: int) -> list[int]:
    """Widths from ``lows`` up to ``highs`` within ``room``: the columns that lack least are
    given all they need first (so fewer columns wrap), what is left goes to the others in
    proportion to what they lack."""
    widths = list(lows)
    spare = room - sum(widths)
    for i in sorted(range(len(widths)), key=lambda i: highs[i] - lows[i]):
        need = highs[i] - widths[i]
        if 0 < need <= spare:
            widths[i] += need
            spare -= need
    short = [i for i in range(len(widths)) if widths[i] < highs[i]]
    lacking = sum(highs[i] - widths[i] for i in short)
    if spare > 0 and lacking:
        given = 0
        for i in short:
            extra = spare * (highs[i] - widths[i]) // lacking
            widths[i] += extra
            given += extra
        for i in short[: spare - given]:
            widths[i] += 1
    return widths
