"""How a roster's columns are read (DESIGN §4): where its header is, which field each column
holds, and what is said about it, before any row is read.

A header may sit below title rows; its names are matched against the table of
lms.enrollment.rosters.headers; a mapping (the preview's drop-downs, `lms import --map`) names
the field of any column. A file without a header is read in the template's order, unless its
emails are plainly in another column: then it says so rather than read every row wrong. Pure:
cells in, a Layout out.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from lms.enrollment.rosters.headers import (
    FIELD_LABELS,
    FIELDS,
    IGNORE,
    LIST_FIELDS,
    TEMPLATE_FIELDS,
    field_of,
    header_key,
    looks_like_password,
)

HEADER_SEARCH_ROWS = 10  # a header below more title rows than this is not looked for
SAMPLE_ROWS = 100  # the data rows looked at for where the emails are, and for samples
SAMPLES_PER_COLUMN = 3
MAP_HINT = "map them on the preview page, or with lms import --map COLUMN=FIELD"
_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")


class MappingRefused(ValueError):
    """A mapping names a column the roster does not have, or a field that does not exist."""


@dataclass
class Layout:
    fields: list  # the field each column holds; None: the column is not imported
    start: int = 0  # the index of the first data record
    header_line: int | None = None
    names: list = field(default_factory=list)  # the header's cells as written (none without a header)
    problems: list = field(default_factory=list)  # (line, column, message): the roster cannot be imported so
    warnings: list = field(default_factory=list)
    samples: list = field(default_factory=list)  # per column, a few of its values (passwords masked)

    @property
    def titles(self):
        """What the preview calls each column: its name, or its number."""
        count = max(len(self.fields), len(self.names), len(self.samples))
        return [(self.names[index] if index < len(self.names) and self.names[index] else f"Column {index + 1}")
                for index in range(count)]

    @property
    def signature(self) -> str | None:
        """The header as a key for the mapping remembered for it; None without a header."""
        return "\x1f".join(header_key(name) for name in self.names) if self.header_line is not None else None


def is_email_like(cell) -> bool:
    return isinstance(cell, str) and _EMAIL.fullmatch(cell.strip()) is not None


def find_layout(records, *, mapping=None, unreadable=lambda cells: False) -> Layout:
    """`records`: (line, cells) of the roster, blank and comment lines left out. `mapping`:
    {column (a header name, or a number from 1): field or "ignore"}."""
    at = header_index(records, unreadable)
    if at is None:
        layout = Layout(fields=list(TEMPLATE_FIELDS))
    else:
        line, cells = records[at]
        names = [_name(cell) for cell in cells]
        layout = Layout(fields=[field_of(name) for name in names], start=at + 1, header_line=line, names=names)
        if at:
            skipped = ", ".join(f"“{' '.join(_name(c) for c in cells if _name(c))[:60]}”" for _, cells in records[:at])
            layout.warnings.append(f"{'Line' if at == 1 else 'Lines'} above the header, not read: {skipped}.")
    data = records[layout.start:layout.start + SAMPLE_ROWS]
    explicit = _apply(mapping or {}, layout)
    layout.samples = _samples(data, layout)
    if layout.header_line is None:
        _check_positions(data, layout, records[0][0] if records else 1, explicit)
    else:
        _check_header(layout)
    return layout


def header_index(records, unreadable=lambda cells: False):
    """The index of the header among the first records, or None: the roster has none. A header
    names the email column or two other known ones; a first row without an email above rows
    with emails is taken for a header too (naming nothing known, it stops the import)."""
    for index, (_, cells) in enumerate(records[:HEADER_SEARCH_ROWS]):
        if unreadable(cells) or any(is_email_like(cell) for cell in cells):
            break
        known = {field_of(cell) for cell in cells if isinstance(cell, str)} - {None}
        if "email" in known or len(known) >= 2:
            return index
    if not records or unreadable(records[0][1]):
        return None
    first = list(records[0][1])
    while first and not _name(first[-1]):
        first.pop()
    # A header names every column it has; a data row missing its email has gaps (or numbers).
    if any(is_email_like(cell) for cell in first) or not all(isinstance(cell, str) and _name(cell) for cell in first):
        return None
    known = {field_of(cell) for cell in first} - {None}
    emails_below = any(any(is_email_like(cell) for cell in cells) for _, cells in records[1:SAMPLE_ROWS])
    return 0 if known or emails_below else None


def holds_roster(records) -> int:
    """2: a header naming the email column, with emails in that column below it; 1: emails but
    no such header; 0: neither. A "Read me" sheet that describes the columns has a line naming
    the email column ("Email | the work address") but no emails under it: it is not the roster."""
    at = header_index(records)
    if at is not None:
        fields = [field_of(cell) for cell in records[at][1]]
        if "email" in fields:
            column = fields.index("email")
            if any(column < len(cells) and is_email_like(cells[column]) for _, cells in records[at + 1:]):
                return 2
    return 1 if any(any(is_email_like(cell) for cell in cells) for _, cells in records) else 0


def _name(cell):
    return "" if cell is None else " ".join(str(cell).split())


def _apply(mapping, layout):
    """Give the mapped columns their fields; a field mapped to a column is taken from any other
    column that held it by its name or position. Returns {index: field} as mapped."""
    explicit = {}
    for reference, wanted in mapping.items():
        explicit[_column_index(str(reference), layout)] = _field(str(wanted))
    if explicit:
        layout.fields += [None] * (max(explicit) + 1 - len(layout.fields))
    for index, wanted in explicit.items():
        layout.fields[index] = wanted
    mapped = set(explicit.values()) - set(LIST_FIELDS) - {None}
    for index, held in enumerate(layout.fields):
        if index not in explicit and held in mapped:
            layout.fields[index] = None
    return explicit


def _column_index(reference, layout):
    names = layout.names
    stripped = " ".join(reference.split())
    for candidates in (names, [header_key(name) for name in names]):
        wanted = stripped if candidates is names else header_key(stripped)
        if wanted and wanted in candidates:
            return candidates.index(wanted)
    number = re.fullmatch(r"#?\s*(\d{1,3})", stripped)
    if number and 1 <= int(number.group(1)) <= 200:
        return int(number.group(1)) - 1
    if names:
        raise MappingRefused(f"The mapping names a column “{stripped[:60]}” that this roster does not have; its "
                             f"columns are: {', '.join(name for name in names if name)[:500]} (or give a column number).")
    raise MappingRefused(f"The mapping names a column “{stripped[:60]}”, but this roster has no header: name its "
                         f"columns by number (1 for the first).")


def _field(wanted):
    key = wanted.strip()
    if key.lower() in (IGNORE, "", "-", "none"):
        return None
    if key in FIELDS:
        return key
    named = field_of(key)
    if named is None:
        raise MappingRefused(f"“{key[:60]}” is not a field of a roster; the fields are: {', '.join(FIELDS)}, "
                             f"or {IGNORE}.")
    return named


def _samples(data, layout):
    count = max([len(layout.fields), len(layout.names)] + [len(cells) for _, cells in data])
    samples = [[] for _ in range(count)]
    for _, cells in data:
        for index, cell in enumerate(cells):
            text = _name(cell)
            if text and len(samples[index]) < SAMPLES_PER_COLUMN:
                samples[index].append(text[:60])
    for index, values in enumerate(samples):
        held = layout.fields[index] if index < len(layout.fields) else None
        name = layout.names[index] if index < len(layout.names) else ""
        if held == "password" or looks_like_password(name):
            samples[index] = ["••••••"] * len(values)
    return samples


def _check_header(layout):
    line, names, fields = layout.header_line, layout.names, layout.fields
    known = [held for held in fields if held]
    if not known:
        shown = ", ".join(name for name in names if name)[:300]
        layout.problems.append((line, None, f"The first line looks like a header ({shown}) but names none of the "
                                            f"columns a roster takes (email, first_name, last_name, groups…). "
                                            f"Rename its columns, or {MAP_HINT}."))
        return
    by_field = {}
    for index, held in enumerate(fields):
        if held:
            by_field.setdefault(held, []).append(index)
    repeated = [held for held, indexes in by_field.items() if len(indexes) > 1 and held not in LIST_FIELDS]
    if repeated:
        layout.problems.append((line, None, "Column given twice in the header: " + "; ".join(
            f"{held} ({', '.join(_title(layout, index) for index in by_field[held])})" for held in repeated)
            + f". Keep one: {MAP_HINT.replace('map them', 'map the other to ignore')}."))
    if "email" not in by_field:
        layout.problems.append((line, "email", f"The header has no email column. If a column holds the emails, "
                                               f"{MAP_HINT.replace('them', 'it')}."))
    ignored = [_title(layout, index) for index, name in enumerate(names) if name and
               (index >= len(fields) or fields[index] is None)]
    if ignored:
        layout.warnings.append(f"Column{'s' if len(ignored) > 1 else ''} not imported (no field of a roster): "
                               + ", ".join(ignored[:20]) + (f" and {len(ignored) - 20:,} more" if len(ignored) > 20 else "")
                               + f". If {'one' if len(ignored) > 1 else 'it'} holds a field, {MAP_HINT.replace('them', 'it')}.")
    for held, indexes in by_field.items():
        if held in LIST_FIELDS and len(indexes) > 1:
            layout.warnings.append(f"The {held} of the columns {', '.join(_title(layout, i) for i in indexes)} "
                                   f"are added together.")


def _title(layout, index):
    return f"“{layout.titles[index]}”"


def _read_as(columns):
    return ", ".join(f"column {index + 1} as {FIELD_LABELS[held].lower() if held else 'not imported'}"
                     for index, held in columns)


def _by_position(layout, explicit):
    """The columns a mapping left out that still hold values: they are read in the template's
    order, which is worth saying (a username read as a first name, a country as a label)."""
    left = [(index, held) for index, held in enumerate(layout.fields)
            if index not in explicit and held and index < len(layout.samples) and layout.samples[index]]
    if not left:
        return ""
    return (f"; the other{'s' if len(left) > 1 else ''} in the template's order: {_read_as(left)} "
            f"(map {'them' if len(left) > 1 else 'it'} to ignore if not)")


def _check_positions(data, layout, line, explicit):
    """A roster without a header: its columns are the template's, unless mapped. If its emails
    are in another column, reading by position would get every row wrong: say where they are."""
    counts = Counter(index for _, cells in data for index, cell in enumerate(cells) if is_email_like(cell))
    if not counts:
        return
    best, most = counts.most_common(1)[0]
    email_at = layout.fields.index("email") if "email" in layout.fields else None
    if email_at is not None and counts.get(email_at, 0) >= most:
        if explicit:
            layout.warnings.append("Read without a header, with the columns mapped: "
                                   + _read_as(sorted(explicit.items())) + _by_position(layout, explicit) + ".")
        return
    where = "the third" if email_at == 2 else (f"column {email_at + 1}" if email_at is not None else "no column")
    layout.problems.append((line, "email",
                            f"This roster has no header row, so its columns are read in the template's order "
                            f"({', '.join(TEMPLATE_FIELDS[:4])}, …), where the email is {where}; but its emails "
                            f"are in column {best + 1}. Add a header row naming the columns, or map them: on the "
                            f"preview page, or with lms import --map {best + 1}=email."))
