"""Response logs, readers for public knowledge-tracing formats, splits by student.

One :class:`Response` is one *event*: a student answering one item. An item tagged with several skills is still one
event with several ``skill_ids`` (never one row per skill: expanded rows leak the answer, see ``evaluate.py``).

Readers (``read_log(path, fmt)``):

- ``dkvmn``: 3 lines per student: ``length`` / item ids / 0-1. The ids are used as item *and* skill ids (the DKVMN
  files carry no problem ids; ASSIST2015 and STATICS2011 have one id per step, so nothing is expanded there).
- ``akt``: 4 lines per student: a header (``index,student`` in the published ASSIST2009 files; the last field
  names the student) / problem ids / skill ids / 0-1. Consecutive rows with the same
  problem id are the expansion of one multi-skill problem and are collapsed into one event.
- ``pykt``: pyKT CSV with a header (``uid``, ``concepts``, ``responses``, optional ``questions``, ``timestamps``,
  ``fold``); ``-1`` is padding; ``a_b`` in ``concepts`` means one event with skills ``a`` and ``b``. Selecting folds
  (``folds=``/``exclude_folds=``) needs a ``fold`` column with a fold on every row.
- ``csv``: tabular, comma or tab separated (standard CSV quoting, as :func:`write_csv` writes), header with
  ``user_id,item_id,skill_id,correct`` and optional ``timestamp``; spaces around fields are ignored; ``skill_id``
  may hold several skills separated by ``_`` or ``;``. Rows of one user are sorted by timestamp (stable).
  Consecutive rows of one user with the same item and timestamp are collapsed into one event.

Every format: files are read as UTF-8 with an optional byte-order mark; an answer is ``0``, ``1``, ``0.0`` or ``1.0``
(anything else is refused, never rounded); errors are :class:`DataFormatError` naming the file and line.

The web app passes its own rows to :meth:`ResponseLog.from_rows` (dicts or tuples
``(user_id, item_id, skill_ids, correct, timestamp)``).
"""

from __future__ import annotations

import csv
import dataclasses
import math
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

FORMATS = ("dkvmn", "akt", "pykt", "csv")


class DataFormatError(ValueError):
    """A malformed input file; the message names the file and the line number."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """One answer of one student to one item (one event, whatever the number of skills)."""

    user_id: str
    item_id: str
    skill_ids: tuple[str, ...]
    correct: int
    timestamp: float | None = None

    @classmethod
    def make(
        cls,
        user_id: Any,
        item_id: Any,
        skill_ids: Any,
        correct: Any,
        timestamp: Any = None,
    ) -> Response:
        """Build a response from loosely typed values (ids become strings, skills a tuple, correct 0/1)."""
        if skill_ids is None or skill_ids == "":
            skills: tuple[str, ...] = ()
        elif isinstance(skill_ids, (str, int)):
            skills = (str(skill_ids),)
        else:
            skills = tuple(dict.fromkeys(str(s) for s in skill_ids))
        f = float(correct)
        if f not in (0.0, 1.0):
            raise ValueError(f"correct must be 0 or 1, got {correct!r}")
        c = int(f)
        ts = None if timestamp is None or timestamp == "" else float(timestamp)
        return cls(str(user_id), str(item_id), skills, c, ts)


class ResponseLog:
    """Responses grouped by student, each student's list in answer order.

    >>> log = ResponseLog.from_rows([("u1", "q1", ["s1"], 1, 0), ("u1", "q2", ["s1", "s2"], 0, 1)])
    >>> len(log), log.n_students, log.skills()
    (2, 1, ['s1', 's2'])
    """

    def __init__(self, sequences: Mapping[str, Sequence[Response]] | None = None) -> None:
        self._seqs: dict[str, list[Response]] = {u: list(rs) for u, rs in (sequences or {}).items() if rs}

    # construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_rows(cls, rows: Iterable[Any], sort_by_time: bool = True) -> ResponseLog:
        """Rows are ``Response`` objects, dicts (keys ``user_id, item_id, skill_ids|skill_id, correct, timestamp``)
        or tuples ``(user_id, item_id, skill_ids, correct[, timestamp])``, in answer order per user."""
        seqs: dict[str, list[Response]] = {}
        for i, row in enumerate(rows):
            try:
                if isinstance(row, Response):
                    r = row
                elif isinstance(row, Mapping):
                    skills = row["skill_ids"] if "skill_ids" in row else row.get("skill_id")
                    r = Response.make(row["user_id"], row["item_id"], skills, row["correct"], row.get("timestamp"))
                else:
                    r = Response.make(*row)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"row {i}: cannot read {row!r}: {exc}") from exc
            seqs.setdefault(r.user_id, []).append(r)
        if sort_by_time:
            for u, rs in seqs.items():
                if all(r.timestamp is not None for r in rs):
                    seqs[u] = sorted(rs, key=lambda r: r.timestamp)  # type: ignore[arg-type, return-value]
        return cls(seqs)

    # access ---------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return sum(len(rs) for rs in self._seqs.values())

    def __iter__(self) -> Iterator[Response]:
        for rs in self._seqs.values():
            yield from rs

    def __repr__(self) -> str:
        return f"ResponseLog({self.n_students} students, {len(self)} responses)"

    @property
    def n_students(self) -> int:
        return len(self._seqs)

    def students(self) -> list[str]:
        return list(self._seqs)

    def sequences(self) -> list[list[Response]]:
        return list(self._seqs.values())

    def sequence(self, user_id: str) -> list[Response]:
        return self._seqs[user_id]

    def items(self) -> list[str]:
        return list(dict.fromkeys(r.item_id for r in self))

    def skills(self) -> list[str]:
        return list(dict.fromkeys(s for r in self for s in r.skill_ids))

    def item_skills(self) -> dict[str, tuple[str, ...]]:
        """The skills of each item (the union over its responses, first-seen order)."""
        out: dict[str, dict[str, None]] = {}
        for r in self:
            out.setdefault(r.item_id, {}).update(dict.fromkeys(r.skill_ids))
        return {i: tuple(s) for i, s in out.items()}

    def subset(self, students: Iterable[str]) -> ResponseLog:
        return ResponseLog({u: self._seqs[u] for u in students if u in self._seqs})

    def __add__(self, other: ResponseLog) -> ResponseLog:
        seqs = dict(self._seqs)
        for u, rs in other._seqs.items():
            seqs[u] = seqs.get(u, []) + rs
        return ResponseLog(seqs)


def split_by_student(log: ResponseLog, frac: float = 0.8, seed: int = 0) -> tuple[ResponseLog, ResponseLog]:
    """Split students (never rows) into two logs: about ``frac`` of the students in the first."""
    if not 0.0 < frac < 1.0:
        raise ValueError("frac must be in (0, 1)")
    users = sorted(log.students())
    random.Random(seed).shuffle(users)
    k = max(1, min(len(users) - 1, round(frac * len(users)))) if len(users) > 1 else len(users)
    return log.subset(users[:k]), log.subset(users[k:])


# readers ----------------------------------------------------------------------------------------------------------
# Every reader decodes with ``utf-8-sig``: a byte-order mark (Excel writes one) is dropped, never read as part of the
# first header name or value.
ENCODING = "utf-8-sig"

# The answers every format accepts (some exports write 0.0/1.0); anything else is refused, never rounded.
_ANSWERS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1}


def _answer(path: Path, lineno: int, text: str) -> int:
    value = _ANSWERS.get(text.strip())
    if value is None:
        raise DataFormatError(path, lineno, f"answer {text.strip()!r} is not 0 or 1")
    return value


def _timestamp(path: Path, lineno: int, text: str) -> float:
    try:
        t = float(text)
    except ValueError:
        raise DataFormatError(path, lineno, f"timestamp {text.strip()!r} is not a number") from None
    if not math.isfinite(t):
        raise DataFormatError(path, lineno, f"timestamp {text.strip()!r} is not a finite number")
    return t


def _ints(path: Path, lineno: int, text: str, what: str) -> list[str]:
    parts = [p.strip() for p in text.strip().rstrip(",").split(",")]
    if not parts or any(p == "" for p in parts):
        raise DataFormatError(path, lineno, f"empty value in the {what} line")
    return parts


def _correct(path: Path, lineno: int, text: str) -> list[int]:
    return [_answer(path, lineno, p) for p in _ints(path, lineno, text, "answers")]


def _blocks(path: Path, size: int) -> Iterator[tuple[int, list[str]]]:
    lines = path.read_text(encoding=ENCODING).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) % size:
        raise DataFormatError(
            path, len(lines), f"{len(lines)} lines is not a multiple of {size} (expected {size} lines per student)"
        )
    for i in range(0, len(lines), size):
        yield i + 1, lines[i : i + size]


def read_dkvmn(path: str | Path) -> ResponseLog:
    """3 lines per student: length / ids / answers. Ids serve as item and skill ids."""
    path = Path(path)
    seqs: dict[str, list[Response]] = {}
    for lineno, (head, ids, ans) in _blocks(path, 3):
        try:
            n = int(head.strip().split(",")[0])
        except ValueError:
            raise DataFormatError(path, lineno, f"expected a sequence length, got {head!r}") from None
        q = _ints(path, lineno + 1, ids, "ids")
        c = _correct(path, lineno + 2, ans)
        if len(q) != n or len(c) != n:
            raise DataFormatError(path, lineno, f"length {n} but {len(q)} ids and {len(c)} answers")
        user = f"{path.stem}:{lineno}"
        seqs[user] = [Response(user, qi, (qi,), ci) for qi, ci in zip(q, c, strict=True)]
    return ResponseLog(seqs)


def read_akt(path: str | Path) -> ResponseLog:
    """4 lines per student: ``index,student`` / problem ids / skill ids / answers; consecutive rows of one problem
    (the expansion of a multi-skill problem) become one event."""
    path = Path(path)
    seqs: dict[str, list[Response]] = {}
    for lineno, (head, pids, sids, ans) in _blocks(path, 4):
        parts = head.strip().split(",")
        p = _ints(path, lineno + 1, pids, "problem ids")
        s = _ints(path, lineno + 2, sids, "skill ids")
        c = _correct(path, lineno + 3, ans)
        if not (len(p) == len(s) == len(c)):
            raise DataFormatError(path, lineno, f"{len(p)} problem ids, {len(s)} skill ids, {len(c)} answers")
        user = parts[-1].strip() if len(parts) > 1 and parts[-1].strip() else f"{path.stem}:{lineno}"
        if user in seqs:
            user = f"{user}:{lineno}"
        events: list[Response] = []
        for pi, si, ci in zip(p, s, c, strict=True):
            if events and events[-1].item_id == pi:
                last = events[-1]
                if si not in last.skill_ids:
                    events[-1] = dataclasses.replace(last, skill_ids=(*last.skill_ids, si))
                continue
            events.append(Response(user, pi, (si,), ci))
        seqs[user] = events
    return ResponseLog(seqs)


def _split_skills(text: str) -> tuple[str, ...]:
    for sep in ("_", ";", "|"):
        if sep in text:
            return tuple(dict.fromkeys(t.strip() for t in text.split(sep) if t.strip()))
    return (text.strip(),) if text.strip() else ()


def _folds(folds: Iterable[int]) -> str:
    ordered = sorted(folds)
    return f"fold{'s' if len(ordered) != 1 else ''} {', '.join(map(str, ordered))}"


def read_pykt(path: str | Path, folds: Iterable[int] | None = None, exclude_folds: Iterable[int] = ()) -> ResponseLog:
    """pyKT CSV (``uid, concepts, responses`` and optional ``questions, timestamps, fold``).

    ``folds`` keeps only those folds, ``exclude_folds`` drops those; either needs a ``fold`` column with a fold on
    every row (otherwise a held-out fold would silently be the whole file)."""
    path = Path(path)
    keep = None if folds is None else {int(f) for f in folds}
    drop = {int(f) for f in exclude_folds}
    by_fold = keep is not None or bool(drop)
    seen: set[int] = set()
    matched = False
    seqs: dict[str, list[Response]] = {}
    with path.open(newline="", encoding=ENCODING) as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or ())
        missing = {"uid", "concepts", "responses"} - cols
        if missing:
            raise DataFormatError(path, 1, f"missing column(s) {sorted(missing)} in header {sorted(cols)}")
        if by_fold and "fold" not in cols:
            raise DataFormatError(path, 1, f"folds were asked for but the file has no fold column: {sorted(cols)}")
        for k, row in enumerate(reader):
            lineno = k + 2
            if "fold" in cols and (row.get("fold") or "").strip():
                try:
                    fold = int(row["fold"])
                except ValueError:
                    raise DataFormatError(path, lineno, f"fold {row['fold']!r} is not an integer") from None
                seen.add(fold)
                if (keep is not None and fold not in keep) or fold in drop:
                    continue
                matched = True
            elif by_fold:
                raise DataFormatError(path, lineno, "no fold on this row, but folds were asked for")
            concepts = [x.strip() for x in (row["concepts"] or "").split(",")]
            c = [x.strip() for x in (row["responses"] or "").split(",")]
            qs = [x.strip() for x in row["questions"].split(",")] if row.get("questions") else None
            ts = [x.strip() for x in row["timestamps"].split(",")] if row.get("timestamps") else None
            if len(c) != len(concepts) or (qs and len(qs) != len(c)) or (ts and len(ts) != len(c)):
                raise DataFormatError(path, lineno, "columns have different lengths")
            user = str(row["uid"])
            if user in seqs:
                user = f"{user}:{lineno}"
            events: list[Response] = []
            for j, (cc, rr) in enumerate(zip(concepts, c, strict=True)):
                if rr == "-1" or cc == "-1":
                    continue
                skills = _split_skills(cc)
                item = qs[j] if qs and qs[j] != "-1" else cc
                t = _timestamp(path, lineno, ts[j]) if ts and ts[j] not in ("", "-1") else None
                events.append(Response(user, item, skills, _answer(path, lineno, rr), t))
            if events:
                seqs[user] = events
    if keep is not None and not matched:
        have = f"the file has {_folds(seen)}" if seen else "the file has no rows"
        raise DataFormatError(path, 1, f"no responses in {_folds(keep)}; {have}")
    return ResponseLog(seqs)


def read_csv(path: str | Path) -> ResponseLog:
    """Tabular ``user_id,item_id,skill_id,correct[,timestamp]`` (comma or tab separated, with a header).

    Standard CSV quoting is understood (what :func:`write_csv` writes reads back); spaces around fields are ignored."""
    path = Path(path)
    with path.open(newline="", encoding=ENCODING) as fh:
        head = fh.readline()
        delim = "\t" if head.count("\t") > head.count(",") else ","
        cols = [c.strip() for c in next(csv.reader([head], delimiter=delim, skipinitialspace=True), [])]
        need = {"user_id", "item_id", "correct"}
        if need - set(cols) or not ({"skill_id", "skill_ids"} & set(cols)):
            raise DataFormatError(
                path, 1, f"header must have user_id,item_id,skill_id,correct[,timestamp]; got {cols}"
            )
        skill_col = "skill_id" if "skill_id" in cols else "skill_ids"
        idx = {c: i for i, c in enumerate(cols)}
        rows: list[tuple[int, Response]] = []
        reader = csv.reader(fh, delimiter=delim, skipinitialspace=True)
        end = 1  # the last physical line read (a quoted field may span lines)
        while True:
            lineno = end + 1
            try:
                parts = next(reader, None)
            except csv.Error as exc:
                raise DataFormatError(path, lineno, f"cannot parse the line: {exc}") from None
            if parts is None:
                break
            end = reader.line_num + 1
            if not parts or (len(parts) == 1 and not parts[0].strip()):
                continue
            if len(parts) != len(cols):
                raise DataFormatError(path, lineno, f"expected {len(cols)} fields, got {len(parts)}")
            user, item = parts[idx["user_id"]].strip(), parts[idx["item_id"]].strip()
            if not user:
                raise DataFormatError(path, lineno, "empty user_id")
            if not item:
                raise DataFormatError(path, lineno, "empty item_id")
            raw_ts = parts[idx["timestamp"]].strip() if "timestamp" in idx else ""
            ts = _timestamp(path, lineno, raw_ts) if raw_ts else None
            skills = _split_skills(parts[idx[skill_col]])
            rows.append((lineno, Response(user, item, skills, _answer(path, lineno, parts[idx["correct"]]), ts)))
    seqs: dict[str, list[Response]] = {}
    for _, r in rows:
        seqs.setdefault(r.user_id, []).append(r)
    for u, rs in seqs.items():
        ordered = rs
        if all(r.timestamp is not None for r in rs):
            ordered = sorted(rs, key=lambda r: r.timestamp)  # type: ignore[arg-type, return-value]
        events: list[Response] = []
        for r in ordered:
            last = events[-1] if events else None
            if last is not None and last.item_id == r.item_id and last.timestamp == r.timestamp and r.timestamp:
                merged = last.skill_ids + tuple(s for s in r.skill_ids if s not in last.skill_ids)
                events[-1] = dataclasses.replace(last, skill_ids=merged)
                continue
            events.append(r)
        seqs[u] = events
    return ResponseLog(seqs)


def write_csv(log: ResponseLog, path: str | Path) -> Path:
    """Write ``log`` in the tabular ``csv`` format (skills joined with ``_``); ``read_csv`` reads it back."""
    path = Path(path)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "item_id", "skill_id", "correct", "timestamp"])
        for r in log:
            w.writerow([r.user_id, r.item_id, "_".join(r.skill_ids), r.correct,
                        "" if r.timestamp is None else r.timestamp])
    return path


READERS = {"dkvmn": read_dkvmn, "akt": read_akt, "pykt": read_pykt, "csv": read_csv}


def read_log(path: str | Path, fmt: str, **kwargs: Any) -> ResponseLog:
    """Read a response log in one of :data:`FORMATS`; raises ``FileNotFoundError`` or :class:`DataFormatError`."""
    if fmt not in READERS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return READERS[fmt](path, **kwargs)
