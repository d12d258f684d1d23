"""CSV item banks: a lone ``items.csv``, or a bank package (folder or .zip) of ``bank.json`` + ``items.csv``.

``bank.json`` holds the bank's title, description, translations, skills (with names in each language) and the
prerequisite graph; ``items.csv`` holds one item per row. The columns are documented in docs/items.md. A lone CSV
creates one skill per skill key it mentions (named after the key, no prerequisites).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from lti_tool.services.item_formats.common import BankData, ItemData, ItemImportError, Location, Problem, SkillData

COLUMNS = [
    "key", "type", "skills", "difficulty", "status",
    "stem_en", "stem_zh", "choices_en", "choices_zh", "answer", "tolerance", "options", "params",
    "feedback_correct_en", "feedback_incorrect_en", "feedback_correct_zh", "feedback_incorrect_zh",
    "choice_feedback_en", "choice_feedback_zh", "hints_en", "hints_zh",
]
REQUIRED = ("key", "type", "skills", "answer")
LOCALIZED = ("stem", "choices", "feedback_correct", "feedback_incorrect", "choice_feedback", "hints")
TEXT_OPTIONS = ("case_sensitive", "ignore_spaces")  # short_text
NUMERIC_OPTIONS = ("percent",)  # numeric: the answer is a percent number, a typed trailing % is only the unit
OPTIONS = TEXT_OPTIONS + NUMERIC_OPTIONS
MAX_FILE_BYTES = 50 * 1024 * 1024


# ------------------------------------------------------------------------------------------ helpers
def _col_locale(suffix: str) -> str:
    from lti_tool.services.items import normalize_locale

    return normalize_locale(suffix)


def _loc_suffix(locale: str) -> str:
    return "zh" if locale == "zh_CN" else locale


def split_list(cell: str) -> list[str]:
    """``a | b\\|c`` -> ["a", "b|c"]."""
    parts, buf, i = [], [], 0
    while i < len(cell):
        ch = cell[i]
        if ch == "\\" and i + 1 < len(cell) and cell[i + 1] == "|":
            buf.append("|")
            i += 2
            continue
        if ch == "|":
            parts.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf).strip())
    return [p for p in parts if p]


def join_list(values: list[str]) -> str:
    return " | ".join(v.replace("|", "\\|") for v in values)


def _keyed(cell: str, what: str) -> list[tuple[str, str]]:
    out = []
    for part in split_list(cell):
        if "=" not in part:
            raise ValueError(f"{what}: expected key=text, got {part!r}")
        key, text = part.split("=", 1)
        out.append((key.strip(), text.strip()))
    return out


# Parameter mini-language: "a=1..9; k=2..10 step 2; b in 2,3,5; g := gcd(a,b); require a < b"
_RANGE = re.compile(r"^([A-Za-z_]\w*)\s*=\s*(-?\d+)\s*\.\.\s*(-?\d+)(?:\s+step\s+(\d+))?$")
_CHOICES = re.compile(r"^([A-Za-z_]\w*)\s+in\s+(.+)$")
_DERIVED = re.compile(r"^([A-Za-z_]\w*)\s*:=\s*(.+)$")
_REQUIRE = re.compile(r"^(?:require|where)\s+(.+)$")


def parse_params(cell: str) -> dict[str, Any] | None:
    cell = cell.strip()
    if not cell:
        return None
    if cell.startswith("{"):
        try:
            value = json.loads(cell)
        except json.JSONDecodeError as exc:
            raise ValueError(f"params: invalid JSON ({exc.msg})") from None
        if not isinstance(value, dict):
            raise ValueError("params: JSON must be an object")
        return value
    out: dict[str, Any] = {"vars": {}}
    for part in (p.strip() for p in cell.split(";")):
        if not part:
            continue
        if m := _RANGE.match(part):
            spec: dict[str, Any] = {"min": int(m.group(2)), "max": int(m.group(3))}
            if m.group(4):
                spec["step"] = int(m.group(4))
            out["vars"][m.group(1)] = spec
        elif m := _REQUIRE.match(part):
            out.setdefault("constraints", []).append(m.group(1).strip())
        elif m := _DERIVED.match(part):
            out.setdefault("derived", {})[m.group(1)] = m.group(2).strip()
        elif m := _CHOICES.match(part):
            values: list[Any] = []
            for raw in m.group(2).split(","):
                v = raw.strip()
                values.append(int(v) if re.fullmatch(r"-?\d+", v) else v)
            out["vars"][m.group(1)] = {"choices": values}
        else:
            raise ValueError(f"params: cannot read {part!r} (use a=1..9, b in 2,3,5, g := expr, require expr)")
    return out


def format_params(params: dict[str, Any] | None) -> str:
    if not params:
        return ""
    parts: list[str] = []
    simple = set(params) <= {"vars", "derived", "constraints"}
    for name, spec in (params.get("vars") or {}).items():
        if set(spec) <= {"min", "max", "step"} and "min" in spec:
            step = f" step {spec['step']}" if spec.get("step", 1) != 1 else ""
            parts.append(f"{name}={spec['min']}..{spec['max']}{step}")
        elif set(spec) == {"choices"} and all(isinstance(c, int) or ("," not in str(c) and ";" not in str(c))
                                              for c in spec["choices"]):
            parts.append(f"{name} in " + ",".join(str(c) for c in spec["choices"]))
        else:
            simple = False
    for name, expr in (params.get("derived") or {}).items():
        parts.append(f"{name} := {expr}")
    parts.extend(f"require {c}" for c in params.get("constraints") or [])
    if not simple or any(";" in p for p in parts):
        return json.dumps(params, ensure_ascii=False, separators=(",", ":"))
    return "; ".join(parts)


def _format_number(value: Any) -> str:
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


# ------------------------------------------------------------------------------------------ reading
def _read_text(path: Path) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ItemImportError(f"file larger than {MAX_FILE_BYTES // 2**20} MiB", Location(path.name))
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ItemImportError(f"not UTF-8 text (byte {exc.start}); save the CSV as UTF-8",
                              Location(path.name)) from None


def read(path: Path) -> BankData:
    """A .csv file, a folder with bank.json + items.csv, or a .zip of those."""
    path = Path(path)
    if path.is_dir():
        manifest = path / "bank.json"
        if not manifest.exists():
            csvs = sorted(path.glob("*.csv"))
            if len(csvs) != 1:
                raise ItemImportError("a bank folder needs bank.json (or exactly one .csv file)", Location(path.name))
            return read_items_csv(_read_text(csvs[0]), csvs[0].name)
        files = {p.name: p for p in path.iterdir() if p.is_file()}
        return _read_package(lambda name: _read_text(files[name]) if name in files else None, path.name)
    if path.suffix.lower() == ".zip":
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise ItemImportError("not a valid zip file", Location(path.name)) from None
        with zf:
            names = {Path(n).name: n for n in zf.namelist() if not n.endswith("/")}

            def get(name: str) -> str | None:
                if name not in names:
                    return None
                info = zf.getinfo(names[name])
                if info.file_size > MAX_FILE_BYTES:
                    raise ItemImportError("file too large", Location(name))
                try:
                    return zf.read(names[name]).decode("utf-8-sig")
                except UnicodeDecodeError:
                    raise ItemImportError("not UTF-8 text", Location(name)) from None

            if "bank.json" not in names:
                csv_names = [n for n in names if n.lower().endswith(".csv")]
                if len(csv_names) != 1:
                    raise ItemImportError("the zip needs bank.json (or exactly one .csv file)", Location(path.name))
                return read_items_csv(get(csv_names[0]) or "", csv_names[0])
            return _read_package(get, path.name)
    return read_items_csv(_read_text(path), path.name)


def _line_of(text: str, needle: str) -> int | None:
    idx = text.find(needle)
    return text.count("\n", 0, idx) + 1 if idx >= 0 else None


def _read_package(get, where: str) -> BankData:
    raw = get("bank.json")
    if raw is None:
        raise ItemImportError("bank.json missing", Location(where))
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ItemImportError(f"invalid JSON: {exc.msg}", Location("bank.json", exc.lineno)) from None
    if not isinstance(meta, dict):
        raise ItemImportError("bank.json must be a JSON object", Location("bank.json", 1))
    items_name = meta.get("items", "items.csv")
    items_text = get(items_name)
    if items_text is None:
        raise ItemImportError(f"{items_name} missing from the bank package", Location(where))
    data = read_items_csv(items_text, items_name, auto_skills=False)
    problems: list[Problem] = []
    skills: list[SkillData] = []
    for i, s in enumerate(meta.get("skills") or []):
        if not isinstance(s, dict) or not isinstance(s.get("key"), str):
            problems.append(Problem(Location("bank.json"), f"skill #{i + 1} needs a key"))
            continue
        loc = Location("bank.json", _line_of(raw, f'"{s["key"]}"'))
        name = s.get("name") or {"en": s["key"]}
        pre = s.get("prerequisites") or []
        if isinstance(pre, str):
            pre = [p.strip() for p in pre.split(";") if p.strip()]
        if not isinstance(pre, list):
            problems.append(Problem(loc, f"skill {s['key']}: prerequisites must be a list of skill keys"))
            pre = []
        skills.append(SkillData(key=s["key"], name=name if isinstance(name, dict) else {"en": str(name)},
                                description=s.get("description") if isinstance(s.get("description"), dict)
                                else ({"en": s["description"]} if s.get("description") else None),
                                prerequisites=[str(p) for p in pre], location=loc))
    if problems:
        raise ItemImportError(problems)
    data.slug = meta.get("slug")
    data.title = meta.get("title")
    data.description = meta.get("description") or ""
    data.translations = meta.get("translations") or {}
    data.languages = list(meta.get("languages") or [])
    data.skills = skills
    return data


def read_items_csv(text: str, filename: str = "items.csv", *, auto_skills: bool = True) -> BankData:
    """Parse items.csv. Every malformed row is reported with its line number; nothing is returned half-read."""
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    problems: list[Problem] = []
    try:
        header = next(reader)
    except StopIteration:
        raise ItemImportError("the CSV is empty", Location(filename, 1)) from None
    except csv.Error as exc:
        raise ItemImportError(f"CSV syntax: {exc}", Location(filename, 1)) from None
    header = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ItemImportError(f"missing column(s): {', '.join(missing)} (header: {', '.join(header)})",
                              Location(filename, 1))
    known_prefixes = tuple(f"{p}_" for p in LOCALIZED)
    for h in header:
        if h not in COLUMNS and not h.startswith(known_prefixes) and h:
            problems.append(Problem(Location(filename, 1), f"unknown column {h!r}"))
    items: list[ItemData] = []
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(Location(filename, line), f"CSV syntax: {exc}"))
            break
        loc = Location(filename, line)
        line = reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if row[0].lstrip().startswith("#"):
            continue  # comment row
        if len(row) > len(header):
            problems.append(Problem(loc, f"{len(row)} cells but the header has {len(header)} columns"))
            continue
        cells = dict(zip(header, [c.strip() for c in row], strict=False))
        try:
            items.append(_row_to_item(cells, loc))
        except ValueError as exc:
            # Keep going: validation reports this together with every other problem of the file.
            items.append(ItemData(key=cells.get("key") or "?", type=cells.get("type", ""), stem={},
                                  skills=[s for s in re.split(r"[;,]", cells.get("skills", "")) if s.strip()],
                                  location=loc, errors=[str(exc)]))
    if problems:
        raise ItemImportError(problems)
    data = BankData(items=items)
    if auto_skills:
        data.ensure_skills()
    return data


def _localized_cells(cells: dict[str, str], prefix: str) -> dict[str, str]:
    out = {}
    for col, value in cells.items():
        if col.startswith(prefix + "_") and value:
            out[_col_locale(col[len(prefix) + 1:])] = value
    return out


def _row_to_item(cells: dict[str, str], loc: Location) -> ItemData:
    key = cells.get("key", "")
    if not key:
        raise ValueError("the key column is empty")
    item_type = cells.get("type", "").strip().lower()
    skills = [s.strip() for s in re.split(r"[;,]", cells.get("skills", "")) if s.strip()]
    stem = _localized_cells(cells, "stem")
    difficulty = None
    if cells.get("difficulty"):
        try:
            difficulty = float(cells["difficulty"])
        except ValueError:
            raise ValueError(f"difficulty {cells['difficulty']!r} is not a number") from None
    options = {o.strip().lower() for o in re.split(r"[;,]", cells.get("options", "")) if o.strip()}
    unknown_opts = options - set(OPTIONS)
    if unknown_opts:
        raise ValueError(f"unknown option(s) {', '.join(sorted(unknown_opts))}; known: {', '.join(OPTIONS)}")
    params = parse_params(cells.get("params", ""))
    raw_answer = cells.get("answer", "")
    if not raw_answer:
        raise ValueError("the answer column is empty")

    choices: list[dict[str, Any]] | None = None
    choice_cells = _localized_cells(cells, "choices")
    if choice_cells:
        order: list[str] = []
        texts: dict[str, dict[str, str]] = {}
        for locale, cell in choice_cells.items():
            for ckey, text in _keyed(cell, f"choices_{_loc_suffix(locale)}"):
                if ckey not in texts:
                    order.append(ckey)
                    texts[ckey] = {}
                texts[ckey][locale] = text
        feedback_by_choice: dict[str, dict[str, str]] = {}
        for locale, cell in _localized_cells(cells, "choice_feedback").items():
            for ckey, text in _keyed(cell, f"choice_feedback_{_loc_suffix(locale)}"):
                if ckey not in texts:
                    raise ValueError(f"choice_feedback for unknown choice {ckey!r}")
                feedback_by_choice.setdefault(ckey, {})[locale] = text
        choices = []
        for ckey in order:
            entry: dict[str, Any] = {"key": ckey, "text": texts[ckey]}
            if ckey in feedback_by_choice:
                entry["feedback"] = feedback_by_choice[ckey]
            choices.append(entry)

    answer: dict[str, Any]
    if item_type in ("mc_single", "mc_multi"):
        answer = {"correct": [k.strip() for k in re.split(r"[;,]", raw_answer) if k.strip()]}
    elif item_type == "numeric":
        answer = {"formula": raw_answer[1:].strip()} if raw_answer.startswith("=") else {"value": raw_answer}
        tol = cells.get("tolerance", "")
        if tol:
            relative = tol.endswith("%")
            try:
                tol_value = float(tol.rstrip("%").strip())
            except ValueError:
                raise ValueError(f"tolerance {tol!r} is not a number (e.g. 0.01 or 5%)") from None
            answer["tolerance"] = tol_value / 100 if relative else tol_value
            answer["tolerance_mode"] = "relative" if relative else "absolute"
        _check_options(options, NUMERIC_OPTIONS, item_type)
        if "percent" in options:
            answer["percent"] = True
    elif item_type == "short_text":
        _check_options(options, TEXT_OPTIONS, item_type)
        answer = {"accepted": split_list(raw_answer), "case_sensitive": "case_sensitive" in options,
                  "ignore_spaces": "ignore_spaces" in options}
    else:
        raise ValueError(f"unknown type {item_type!r}; use mc_single, mc_multi, numeric or short_text")

    if item_type in ("mc_single", "mc_multi"):
        _check_options(options, (), item_type)

    feedback: dict[str, dict[str, str]] = {}
    for part in ("correct", "incorrect"):
        for locale, text in _localized_cells(cells, f"feedback_{part}").items():
            feedback.setdefault(locale, {})[part] = text
    hints = {locale: split_list(cell) for locale, cell in _localized_cells(cells, "hints").items()}
    return ItemData(
        key=key, type=item_type, stem=stem, choices=choices, answer=answer, params=params, difficulty=difficulty,
        feedback=feedback or None, hints=hints or None, skills=skills,
        status=(cells.get("status") or "active").lower(), location=loc,
    )


def _check_options(options: set[str], allowed: tuple[str, ...], item_type: str) -> None:
    wrong = sorted(options - set(allowed))
    if wrong:
        hint = f"; {item_type} knows: {', '.join(allowed)}" if allowed else f"; {item_type} has no options"
        raise ValueError(f"option(s) {', '.join(wrong)} do not apply to a {item_type} item{hint}")


# ------------------------------------------------------------------------------------------ writing
def _tol_cell(answer: dict[str, Any]) -> str:
    tol = answer.get("tolerance") or 0
    if not tol:
        return ""
    if answer.get("tolerance_mode") == "relative":
        return f"{_format_number(round(tol * 100, 10))}%"
    return _format_number(tol)


def item_to_row(item: ItemData, locales: list[str]) -> dict[str, str]:
    row: dict[str, str] = {
        "key": item.key, "type": item.type, "skills": "; ".join(item.skills),
        "difficulty": "" if item.difficulty is None else _format_number(item.difficulty),
        "status": "" if item.status == "active" else item.status,
        "params": format_params(item.params),
    }
    ans = item.answer
    if item.type in ("mc_single", "mc_multi"):
        row["answer"] = "; ".join(ans["correct"])
    elif item.type == "numeric":
        row["answer"] = f"={ans['formula']}" if "formula" in ans else _format_number(ans["value"])
        row["tolerance"] = _tol_cell(ans)
        row["options"] = "; ".join(o for o in NUMERIC_OPTIONS if ans.get(o))
    else:
        row["answer"] = join_list(ans["accepted"])
        row["options"] = "; ".join(o for o in TEXT_OPTIONS if ans.get(o))
    for loc in locales:
        sfx = _loc_suffix(loc)
        row[f"stem_{sfx}"] = item.stem.get(loc, "")
        if item.choices:
            row[f"choices_{sfx}"] = join_list([f"{c['key']}={c['text'][loc]}" for c in item.choices
                                               if loc in c["text"]])
            row[f"choice_feedback_{sfx}"] = join_list(
                [f"{c['key']}={c['feedback'][loc]}" for c in item.choices if loc in (c.get("feedback") or {})])
        fb = (item.feedback or {}).get(loc, {})
        row[f"feedback_correct_{sfx}"] = fb.get("correct", "")
        row[f"feedback_incorrect_{sfx}"] = fb.get("incorrect", "")
        row[f"hints_{sfx}"] = join_list((item.hints or {}).get(loc, []))
    return row


def items_csv(data: BankData) -> str:
    locales = ["en", "zh_CN", *sorted({loc for i in data.items for loc in i.stem} - {"en", "zh_CN"})]
    header = list(COLUMNS)
    for loc in locales[2:]:
        sfx = _loc_suffix(loc)
        header += [f"{p}_{sfx}" for p in ("stem", "choices", "feedback_correct", "feedback_incorrect",
                                          "choice_feedback", "hints")]
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n", restval="")
    writer.writeheader()
    for item in data.items:
        writer.writerow(item_to_row(item, locales))
    return buf.getvalue()


def bank_json(data: BankData) -> str:
    meta = {
        "format": "adaptive-lti-bank/1",
        "slug": data.slug,
        "title": data.title,
        "description": data.description,
        "translations": data.translations,
        "languages": data.languages,
        "items": "items.csv",
        "skills": [
            {"key": s.key, "name": s.name, **({"description": s.description} if s.description else {}),
             "prerequisites": s.prerequisites}
            for s in data.skills
        ],
    }
    return json.dumps(meta, ensure_ascii=False, indent=2) + "\n"


def write(data: BankData, path: Path) -> None:
    """``x.zip`` -> zipped package; ``x.csv`` -> items only (skills' names and prerequisites are lost);
    anything else -> a folder with bank.json + items.csv."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        path.write_text(items_csv(data), encoding="utf-8")
    elif path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("bank.json", bank_json(data))
            zf.writestr("items.csv", items_csv(data))
    else:
        path.mkdir(parents=True, exist_ok=True)
        (path / "bank.json").write_text(bank_json(data), encoding="utf-8")
        (path / "items.csv").write_text(items_csv(data), encoding="utf-8")
