"""Parsers for untrusted text: YAML, JSON and CSV to plain records, bounded in depth and size.

Nothing here opens a file (load.py does) or knows the case format: a parser yields the
records of one text, one at a time, and turns every way the text can be wrong into an
`InputError` value located by line and item. The items of a top-level YAML or JSON list and
the rows of a CSV are yielded as they are parsed, so a batch holds one case at a time.
"""

from __future__ import annotations

import csv
import json
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from ..reasoning.errors import InputError

MAX_DEPTH = 32
"""Deepest nesting of lists and mappings: a case needs 3, a rules file 6."""

MAX_NODES = 200_000
"""Most values one record may hold once YAML aliases are expanded: a full case has a few
hundred, a rules file a few tens of thousands; a 'billion laughs' alias bomb stops here
after reading a few lines instead of expanding to gigabytes. The same number bounds what
aliases add in a whole file: one anchor of 150,000 values named by each of 2,000 cases
stays under the bound in every case, yet would have 300 million values built (a 370 kB
file scored for minutes)."""

try:  # libyaml's parser when PyYAML was built with it: the same events, several times faster
    from yaml._yaml import CParser as _EventParser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml.parser import Parser as _PyParser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _EventParser(Reader, Scanner, _PyParser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            _PyParser.__init__(self)


@dataclass(frozen=True)
class Record:
    """One parsed record: an item of a top-level list (`index` from 1), a CSV row, or the
    whole document (`index` None)."""

    data: Any
    index: int | None = None
    line: int | None = None
    row: bool = False

    @property
    def name(self) -> str | None:
        """How an error names the record when its case id is unknown: '#3', 'row 3'."""
        if self.index is None:
            return None
        return f"row {self.index}" if self.row else f"#{self.index}"


class _TooBig(yaml.YAMLError):
    """Nested too deep, too many values, or a recursive alias: the file is refused."""

    def __init__(self, message: str, event: yaml.Event) -> None:
        super().__init__(message)
        self.problem = message
        self.problem_mark = event.start_mark


class _BoundedLoader(_EventParser, SafeConstructor, Resolver):
    """Composes YAML nodes from parser events itself (rather than PyYAML's composer) to
    bound depth and alias expansion while composing: safe tags only, text keys only,
    no duplicate keys."""

    def __init__(self, text: str) -> None:
        _EventParser.__init__(self, text)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.anchors: dict[str, Node] = {}
        self.anchor_sizes: dict[str, int] = {}
        self.size = 0
        self.aliased = 0
        """Values aliases have added in the whole file so far (bounded by the record limit)."""

    def record_node(self, limit: int) -> Node:
        """Compose one record; `limit` bounds its values with every alias expanded."""
        self.size = 0
        self.limit = limit
        return self._node(1)

    def _node(self, depth: int) -> Node:
        event = self.get_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise _TooBig(f"alias *{event.anchor} names no anchor", event)
            if event.anchor not in self.anchor_sizes:
                raise _TooBig(f"alias *{event.anchor} is inside its own anchor (recursive)", event)
            self._grow(self.anchor_sizes[event.anchor], event)
            self.aliased += self.anchor_sizes[event.anchor]
            if self.aliased > self.limit:
                raise _TooBig(
                    f"aliases add more than {self.limit:,} values in this file (an alias bomb?)",
                    event,
                )
            return self.anchors[event.anchor]
        if depth > MAX_DEPTH:
            raise _TooBig(f"nested deeper than {MAX_DEPTH} levels", event)
        anchor = getattr(event, "anchor", None)
        if anchor is not None and anchor in self.anchors:
            raise _TooBig(f"anchor &{anchor} is defined twice", event)
        before = self.size
        self._grow(1, event)
        node = self._compose(event, depth)
        if anchor is not None:
            self.anchor_sizes[anchor] = self.size - before
        return node

    def _compose(self, event: yaml.Event, depth: int) -> Node:
        tag = event.tag
        if isinstance(event, yaml.ScalarEvent):
            if tag is None or tag == "!":
                tag = self.resolve(ScalarNode, event.value, event.implicit)
            node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            if event.anchor is not None:
                self.anchors[event.anchor] = node
            return node
        kind = SequenceNode if isinstance(event, yaml.SequenceStartEvent) else MappingNode
        if tag is None or tag == "!":
            tag = self.resolve(kind, None, event.implicit)
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        if event.anchor is not None:
            self.anchors[event.anchor] = node  # registered before its children: see recursion
        end = yaml.SequenceEndEvent if kind is SequenceNode else yaml.MappingEndEvent
        while not self.check_event(end):
            if kind is SequenceNode:
                node.value.append(self._node(depth + 1))
            else:
                node.value.append((self._node(depth + 1), self._node(depth + 1)))
        node.end_mark = self.get_event().end_mark
        return node

    def quick_record(self, limit: int, index: int | None) -> Record:
        """One record built straight from the events; raises _Unusual at anything but plain
        mappings, lists and scalars that construct without a problem."""
        line = self.peek_event().start_mark.line + 1
        self.size = 0
        self.limit = limit
        return Record(self._quick(1), index, line)

    def _quick(self, depth: int) -> Any:
        event = self.get_event()
        self.size += 1
        kind = type(event)
        if (
            depth > MAX_DEPTH
            or self.size > self.limit
            or kind is yaml.AliasEvent
            or event.anchor is not None
            or event.tag not in (None, "!")
        ):
            raise _Unusual()
        if kind is yaml.ScalarEvent:
            tag = self.resolve(ScalarNode, event.value, event.implicit)
            if tag == _STR:
                return event.value
            construct = _QUICK_SCALARS.get(tag)
            if construct is None:
                raise _Unusual()  # a merge key, "=": the careful way says what they are
            node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            try:
                return construct(self, node)
            except (yaml.YAMLError, ValueError, OverflowError) as exc:
                raise _Unusual() from exc
        if kind is yaml.SequenceStartEvent:
            items = []
            while not self.check_event(yaml.SequenceEndEvent):
                items.append(self._quick(depth + 1))
            self.get_event()
            return items
        mapping: dict[str, Any] = {}
        while not self.check_event(yaml.MappingEndEvent):
            key = self._quick(depth + 1)
            if not isinstance(key, str) or key in mapping:
                raise _Unusual()
            mapping[key] = self._quick(depth + 1)
        self.get_event()
        return mapping

    def _grow(self, size: int, event: yaml.Event) -> None:
        self.size += size
        if self.size > self.limit:
            raise _TooBig(
                f"more than {self.limit:,} values once aliases are expanded (an alias bomb?)",
                event,
            )

    def construct_yaml_int(self, node: ScalarNode) -> int:
        # YAML 1.1 reads 010 as 8, 0x1F as 31, 1_000 as 1000 and 1:30 as 90: an id written
        # that way would silently change, and a real "8" later would be a false duplicate.
        text = node.value.strip()
        value = super().construct_yaml_int(node)
        if not _PLAIN_INT.fullmatch(text):
            raise _Ambiguous(
                f"{text!r} is read by YAML as the number {value} ({_int_form(text)}): "
                "quote it if it is text such as an id, or write the number plainly",
                node.start_mark,
            )
        return value

    def construct_yaml_float(self, node: ScalarNode) -> float:
        text = node.value.strip()
        if ":" in text or "_" in text:
            raise _Ambiguous(
                f"{text!r} is read by YAML as the number {super().construct_yaml_float(node)}: "
                "quote it if it is text, or write the number plainly",
                node.start_mark,
            )
        return super().construct_yaml_float(node)

    def construct_yaml_bool(self, node: ScalarNode) -> bool:
        # YAML 1.1 reads on and off as true and false: `smoking: on` would silently become a
        # yes. yes, no, true and false say what they mean and stay.
        text = node.value.strip()
        if text.lower() in ("on", "off"):
            raise _Ambiguous(
                f"{text!r} is read by YAML as {'true' if text.lower() == 'on' else 'false'}: "
                "write yes or no, or quote it if it is text",
                node.start_mark,
            )
        return bool(super().construct_yaml_bool(node))

    def construct_text_timestamp(self, node: ScalarNode) -> str:
        # No case or rules field is a date: a date-like id or note stays exactly as written.
        return node.value

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"a key must be text, got {key!r} (put it in quotes)",
                    key_node.start_mark,
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (also on line {seen[key].start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


_BoundedLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _BoundedLoader.construct_text_timestamp
)
_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)
_BoundedLoader.add_constructor("tag:yaml.org,2002:bool", _BoundedLoader.construct_yaml_bool)
_BoundedLoader.add_constructor("tag:yaml.org,2002:float", _BoundedLoader.construct_yaml_float)

_PLAIN_INT = re.compile(r"0|-?[1-9][0-9]*")

_STR = "tag:yaml.org,2002:str"
_QUICK_SCALARS = {
    tag: _BoundedLoader.yaml_constructors[tag]
    for tag in (
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:timestamp",
    )
}
"""The scalars a plain record may hold besides text, each built as the careful way builds it."""


def _int_form(text: str) -> str:
    if ":" in text:
        return "base 60"
    if "_" in text:
        return "underscores are dropped"
    digits = text.lstrip("+-")
    if digits.startswith(("0x", "0X")):
        return "hexadecimal"
    if digits.startswith(("0b", "0B")):
        return "binary"
    if digits.startswith("0") and len(digits) > 1:
        return "a leading 0 means octal"
    return "the sign is dropped"


class _Ambiguous(yaml.constructor.ConstructorError):
    """A plain value YAML would silently turn into another one: refused, with a hint."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(None, None, message, mark)


def yaml_records(
    text: str, *, split_list: bool = True, limit: int = MAX_NODES
) -> Iterator[Record | InputError]:
    """The records of a YAML text: each item of a top-level list as soon as it is read (with
    `split_list`), or the one document. A syntax error ends the text; a bad item is an error
    and the next item is still read. `limit` bounds the values of one record.

    Plain records (no anchor, alias, tag or merge key, nothing refused) are built straight
    from the parser's events, without nodes; at the first record that is not, the text is
    read again the careful way from that record on, so every record and every error is the
    one the careful way gives (tests/test_input.py compares both).
    """
    done = 0
    try:
        for record in _yaml_records(text, split_list, limit, fast=True):
            yield record
            done += 1
        return
    except _Unusual:
        pass
    yield from _yaml_records(text, split_list, limit, fast=False, skip=done)


class _Unusual(Exception):
    """Raised by the quick way at what only the careful way reads (not a YAMLError)."""


def _yaml_records(
    text: str, split_list: bool, limit: int, *, fast: bool, skip: int = 0
) -> Iterator[Record | InputError]:
    index: int | None = None
    loader = None
    try:
        loader = _BoundedLoader(text)  # the pure-Python reader checks characters here
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            yield Record(None)  # no document at all: an empty file
            return
        loader.get_event()  # document start
        if (
            split_list
            and loader.check_event(yaml.SequenceStartEvent)
            and _plain(loader.peek_event())
        ):
            loader.get_event()
            index = 0
            while not loader.check_event(yaml.SequenceEndEvent):
                index += 1
                if fast:
                    yield loader.quick_record(limit, index)
                    continue
                node = loader.record_node(limit)
                if index > skip:  # the records before were given by the quick way
                    yield _constructed(loader, node, index)
            loader.get_event()
        elif fast:
            yield loader.quick_record(limit, None)
        else:
            node = loader.record_node(limit)
            if not skip:
                yield _constructed(loader, node, None)
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            raise yaml.composer.ComposerError(
                None,
                None,
                "a case file holds one YAML document, found another",
                loader.peek_event().start_mark,
            )
    except yaml.YAMLError as exc:
        if fast:
            raise _Unusual() from exc
        yield _yaml_error(exc, index)
    finally:
        if loader is not None:
            loader.dispose()


def _plain(event: yaml.Event) -> bool:
    """A top-level list read item by item must be a plain one: no anchor, no explicit tag."""
    return event.anchor is None and event.tag in (None, "!")


def _constructed(loader: _BoundedLoader, node: Node, index: int | None) -> Record | InputError:
    try:
        return Record(loader.construct_document(node), index, node.start_mark.line + 1)
    except yaml.YAMLError as exc:
        return _yaml_error(exc, index)
    except (ValueError, OverflowError) as exc:
        # A well-formed value that no Python type holds: an integer of 5,000 digits,
        # the date 2024-02-31. PyYAML raises these unwrapped.
        return InputError(
            f"invalid YAML value: {exc}", case=_item(index), line=node.start_mark.line + 1
        )
    finally:
        loader.constructed_objects = {}
        loader.recursive_objects = {}
        loader.state_generators = []


def _yaml_error(exc: yaml.YAMLError, index: int | None) -> InputError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if isinstance(exc, _Ambiguous):
        return InputError(problem, case=_item(index), line=mark.line + 1 if mark else None)
    if isinstance(exc, yaml.reader.ReaderError):
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        problem = f"character U+{code:04X} is not allowed in YAML"
    return InputError(
        f"invalid YAML: {problem}", case=_item(index), line=mark.line + 1 if mark else None
    )


def _item(index: int | None) -> str | None:
    return f"#{index}" if index is not None else None


_SPACE = re.compile(r"[ \t\n\r]*")


class _Stop(Exception):
    """A problem that ends the reading of a JSON text, carried out of the item loop."""

    def __init__(self, error: InputError) -> None:
        super().__init__(str(error))
        self.error = error


def json_records(
    text: str, *, split_list: bool = True, limit: int = MAX_NODES
) -> Iterator[Record | InputError]:
    """The records of a JSON text: each item of a top-level array as soon as it is decoded
    (with `split_list`), or the one value. A syntax error ends the text. JSON has no
    aliases, so the text's size bounds its values and `limit` is not needed."""
    refused: list[str] = []
    decoder = _StrictDecoder(refused)
    try:
        yield from _json_items(decoder, text, split_list)
    except _Stop as stop:
        yield stop.error


class _StrictDecoder(json.JSONDecoder):
    """JSON with what the case format refuses noted (not raised, so that the item's end is
    known and the next item is still read): a key given twice, which json would silently
    resolve to the last, as YAML refuses it; NaN and Infinity, which are not JSON."""

    def __init__(self, refused: list[str]) -> None:
        super().__init__(object_pairs_hook=self._unique_keys, parse_constant=self._constant)
        self.refused = refused

    def _unique_keys(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        for key, value in pairs:
            if key in mapping and not self.refused:
                self.refused.append(f"duplicate key {key!r}")
            mapping[key] = value
        return mapping

    def _constant(self, name: str) -> Any:
        if not self.refused:
            self.refused.append(f"{name} is not a JSON number")
        return None


def _json_items(
    decoder: _StrictDecoder, text: str, split_list: bool
) -> Iterator[Record | InputError]:
    position = _SPACE.match(text).end()
    if position == len(text):
        yield Record(None)
        return
    if not split_list or text[position] != "[":
        value, end = _decoded(decoder, text, position, None)
        _expect_end(text, end)
        yield _json_record(value, None, _Lines(text).at(position), decoder.refused)
        return
    position = _SPACE.match(text, position + 1).end()
    if text.startswith("]", position):
        _expect_end(text, position + 1)
        return
    index = 0
    lines = _Lines(text)
    while True:
        index += 1
        value, end = _decoded(decoder, text, position, index)
        yield _json_record(value, index, lines.at(position), decoder.refused)
        position = _SPACE.match(text, end).end()
        if text.startswith(",", position):
            position = _SPACE.match(text, position + 1).end()
        elif text.startswith("]", position):
            _expect_end(text, position + 1)
            return
        elif position == len(text):
            raise _Stop(_json_error("the text ends inside the list", text, position, index))
        else:
            raise _Stop(_json_error("expected ',' or ']' after an item", text, position, index))


def _decoded(
    decoder: _StrictDecoder, text: str, position: int, index: int | None
) -> tuple[Any, int]:
    try:
        return decoder.raw_decode(text, position)
    except json.JSONDecodeError as exc:
        raise _Stop(
            InputError(f"invalid JSON: {exc.msg}", case=_item(index), line=exc.lineno)
        ) from exc
    except RecursionError as exc:
        deep = f"nested deeper than {MAX_DEPTH} levels"
        raise _Stop(_json_error(deep, text, position, index)) from exc
    except ValueError as exc:  # a well-formed number Python will not convert (5,000 digits)
        # Python's own message ends "use sys.set_int_max_str_digits()": not the user's to do.
        message = str(exc).split(";")[0]
        raise _Stop(_json_error(f"invalid value: {message}", text, position, index)) from exc


def _expect_end(text: str, position: int) -> None:
    position = _SPACE.match(text, position).end()
    if position < len(text):
        raise _Stop(_json_error("extra data after the value", text, position, None))


class _Lines:
    """The line numbers of positions met in increasing order, each newline counted once:
    counting from the start for every item of a long list would take quadratic time."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0
        self.line = 1

    def at(self, position: int) -> int:
        if position < self.position:
            return self.text.count("\n", 0, position) + 1
        self.line += self.text.count("\n", self.position, position)
        self.position = position
        return self.line


def _json_record(
    value: Any, index: int | None, line: int, refused: list[str]
) -> Record | InputError:
    if refused:
        problem = refused.pop()
        refused.clear()
        return InputError(f"invalid JSON: {problem}", case=_item(index), line=line)
    if _depth(value) > MAX_DEPTH:
        return InputError(f"nested deeper than {MAX_DEPTH} levels", case=_item(index), line=line)
    return Record(value, index, line)


def _json_error(message: str, text: str, position: int, index: int | None) -> InputError:
    line = text.count("\n", 0, position) + 1
    return InputError(f"invalid JSON: {message}", case=_item(index), line=line)


def _depth(value: Any) -> int:
    """Nesting depth of plain data, without recursion (the data may come from anywhere)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                children = item.values() if isinstance(item, dict) else item
                stack.extend((child, depth + 1) for child in children)
    return deepest


@dataclass(frozen=True)
class Header:
    """The first row of a CSV text: its column names."""

    columns: list[str]


MAX_CSV_ROW = 2**20
"""Longest CSV row (a registry row is a few hundred characters), one line or several: bounds
the memory a CSV with no line breaks, or a quoted cell left open, would take."""

# The csv module's own limit (128 kB a cell) would end the reading of the file; rows are
# bounded here instead, row by row. The limit is the module's, for the whole process.
csv.field_size_limit(max(csv.field_size_limit(), 2 * MAX_CSV_ROW))


class LongLine:
    """Stands for a physical line longer than `MAX_CSV_ROW`, skipped without being held."""


class _RowTooLong(Exception):
    pass


def csv_records(lines: Iterable[str | LongLine]) -> Iterator[Header | Record | InputError]:
    """The rows of a CSV text as they are read: first its `Header`, then one record per row
    (a mapping column -> cell; blank lines skipped). Each problem costs only its row: a row
    with more or fewer cells than the header, undecodable bytes (read with surrogateescape),
    a row or line over `MAX_CSV_ROW`, a quote that never closes. Reading goes on from the line
    after the first line of the bad row, so every other row is still read."""
    source = iter(lines)
    numbers = iter(range(1, 2**62))
    replay: deque[tuple[int, str | LongLine]] = deque()
    current: list[tuple[int, str | LongLine]] = []

    def feed() -> Iterator[str]:
        size = 0
        while True:
            if replay:
                item = replay.popleft()
            else:
                line = next(source, None)
                if line is None:
                    return
                item = (next(numbers), line)
            if not current:  # a new row: the limit is a row's, not the file's
                size = 0
            current.append(item)
            if isinstance(item[1], LongLine):
                raise _RowTooLong()
            size += len(item[1])
            if size > MAX_CSV_ROW:
                raise _RowTooLong()
            yield item[1]

    header: list[str] | None = None
    id_column: int | None = None
    number = 0
    while True:
        # strict: a quote in the wrong place is an error, not a silent merge of cells
        reader = csv.reader(feed(), strict=True)
        try:
            for cells in reader:
                row_lines, first = current[:], current[0][0] if current else None
                current.clear()
                if not any(cell.strip() for cell in cells):
                    continue
                if header is None:
                    bad = _undecodable(cells)
                    if bad is not None:
                        yield InputError(
                            f"not UTF-8 text (byte 0x{bad:02x})",
                            line=first,
                            hint="save the file as UTF-8",
                        )
                        return
                    header = cells
                    id_column = header.index("id") if "id" in header else None
                    yield Header(header)
                    continue
                number += 1
                yield _csv_row(cells, header, id_column, number, first, row_lines)
            if header is None:
                yield Record(None)
            return
        except (csv.Error, _RowTooLong) as exc:
            row_lines = current[:]
            current.clear()
            first = row_lines[0][0] if row_lines else None
            if isinstance(exc, _RowTooLong):
                long = isinstance(row_lines[-1][1], LongLine)
                at = f"line {row_lines[-1][0]}" if long else "the row"
                message = f"{at} is longer than {MAX_CSV_ROW // 2**20} MB"
                if len(row_lines) > 1 and not long:
                    message += " (a quoted cell left open?)"
            else:
                message = f"invalid CSV: {exc}".replace(
                    "unexpected end of data", "a quoted cell is never closed (a truncated export?)"
                )
            if header is None:
                yield InputError(message, line=first)
                return
            number += 1
            yield InputError(
                message,
                case=f"row {number}",
                line=first,
                hint="a CSV export has one short line per case"
                if isinstance(exc, _RowTooLong)
                else None,
            )
            # Read on from the line after the bad row's first line (which is dropped).
            replay.extendleft(reversed(row_lines[1:]))


def _csv_row(
    cells: list[str],
    header: list[str],
    id_column: int | None,
    number: int,
    first: int | None,
    lines: list[tuple[int, str | LongLine]],
) -> Record | InputError:
    bad = _undecodable(cells)
    named = (
        id_column is not None
        and id_column < len(cells)
        and _undecodable([cells[id_column]]) is None
        and cells[id_column].strip()
    )
    case = cells[id_column].strip() if named else f"row {number}"
    if bad is not None:
        where = next(
            (n for n, text in lines if isinstance(text, str) and _undecodable([text])), first
        )
        return InputError(
            f"not UTF-8 text (byte 0x{bad:02x})",
            case=case,
            line=where,
            hint="save the file as UTF-8; it may be Latin-1 or Windows-1252",
        )
    if len(cells) != len(header):
        return InputError(
            f"row {number} has {len(cells)} cells, the header has {len(header)} columns",
            case=case,
            line=first,
        )
    return Record(dict(zip(header, cells, strict=True)), number, first, row=True)


def _undecodable(cells: list[str]) -> int | None:
    """The first byte that was not UTF-8 (read as a lone surrogate), if any."""
    for cell in cells:
        if not cell.isascii():
            try:
                cell.encode("utf-8")
            except UnicodeEncodeError as exc:
                return ord(cell[exc.start]) - 0xDC00
    return None
