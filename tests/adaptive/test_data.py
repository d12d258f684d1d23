from __future__ import annotations

import pytest

from adaptive.data import DataFormatError, Response, ResponseLog, read_log, split_by_student, write_csv


def test_dkvmn_three_lines(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("3\n1,2,1\n1,0,1\n2\n5,5\n0,1\n")
    log = read_log(p, "dkvmn")
    assert log.n_students == 2
    assert len(log) == 5
    first = log.sequences()[0]
    assert [(r.item_id, r.skill_ids, r.correct) for r in first] == [("1", ("1",), 1), ("2", ("2",), 0),
                                                                   ("1", ("1",), 1)]


def test_akt_four_lines_collapses_expanded_problem(tmp_path):
    p = tmp_path / "a.csv"
    # problem 10 is tagged with skills 7 and 9: two consecutive rows, one event
    p.write_text("4,stu1\n10,10,11,12\n7,9,7,3\n1,1,0,1\n")
    log = read_log(p, "akt")
    seq = log.sequence("stu1")
    assert [(r.item_id, r.skill_ids, r.correct) for r in seq] == [
        ("10", ("7", "9"), 1), ("11", ("7",), 0), ("12", ("3",), 1)]


def test_pykt_folds_padding_and_multi_concepts(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text('fold,uid,questions,concepts,responses\n'
                 '0,u1,"q1,q2,-1","c1_c2,c3,-1","1,0,-1"\n'
                 '1,u2,"q3,q1","c3,c1_c2","0,1"\n')
    log = read_log(p, "pykt")
    assert log.sequence("u1")[0].skill_ids == ("c1", "c2")
    assert len(log.sequence("u1")) == 2
    assert read_log(p, "pykt", folds=[1]).students() == ["u2"]
    assert read_log(p, "pykt", exclude_folds=[1]).students() == ["u1"]


def test_tabular_csv_sorts_by_time_and_reads_tabs(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("user_id\titem_id\ttimestamp\tcorrect\tskill_id\n"
                 "a\tq2\t5\t0\ts1;s2\n"
                 "a\tq1\t1\t1\ts1\n"
                 "b\tq1\t3\t1\ts1\n")
    log = read_log(p, "csv")
    assert [r.item_id for r in log.sequence("a")] == ["q1", "q2"]
    assert log.sequence("a")[1].skill_ids == ("s1", "s2")


@pytest.mark.parametrize(
    ("fmt", "text", "line"),
    [
        ("dkvmn", "2\n1,2\n1,0\n3\n1,2\n1,1\n", 4),  # length says 3, two values
        ("dkvmn", "2\n1,2\n1,7\n", 3),  # answer 7
        ("akt", "2,s\n1,2\n3,4\n", 3),  # 3 lines is not a multiple of 4
        ("akt", "0,s\n1,2\n3\n1,0\n", 1),  # 2 problem ids, 1 skill id
        ("csv", "user_id,item_id,skill_id,correct\nu,q,s,1\nu,q,s\n", 3),
        ("csv", "user_id,item_id,skill_id,correct\nu,q,s,yes\n", 2),
        ("csv", "user_id,item_id,skill_id,correct\nu,q,s,1\n ,q,s,1\n", 3),  # empty user id
        ("csv", "user_id,item_id,skill_id,correct\nu,q,s,1\nu,,s,1\n", 3),  # empty item id
        ("csv", "user_id,item_id,skill_id,correct,timestamp\nu,q,s,1,nan\n", 2),
        ("csv", "user_id,item_id,skill_id,correct,timestamp\nu,q,s,1,1\nu,q,s,1,inf\n", 3),
        ("csv", "user_id,item_id,skill_id,correct,timestamp\nu,q,s,1,soon\n", 2),
        ("pykt", 'uid,concepts,responses,timestamps\nu,"1,2","1,0","1,x"\n', 2),
    ],
)
def test_malformed_files_name_the_line(tmp_path, fmt, text, line):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataFormatError) as err:
        read_log(p, fmt)
    assert err.value.line == line
    assert f"bad.csv:{line}:" in str(err.value)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_log(tmp_path / "nope.csv", "csv")
    with pytest.raises(ValueError, match="unknown format"):
        read_log(tmp_path, "xml")


def test_from_rows_accepts_dicts_and_tuples():
    log = ResponseLog.from_rows([
        {"user_id": 1, "item_id": "q2", "skill_ids": ["s1", "s2"], "correct": True, "timestamp": 20},
        (1, "q1", ["s1"], 0, 10),
        Response.make("2", "q1", "s1", 1),
    ])
    seq = log.sequence("1")
    assert [r.item_id for r in seq] == ["q1", "q2"]  # sorted by timestamp
    assert seq[1].skill_ids == ("s1", "s2")
    assert seq[1].correct == 1
    with pytest.raises(ValueError, match="row 0"):
        ResponseLog.from_rows([("u", "q", ["s"], 3, 0)])


def test_split_by_student_is_disjoint_and_reproducible(sim):
    log = sim[0]
    a, b = split_by_student(log, 0.7, seed=1)
    assert not set(a.students()) & set(b.students())
    assert a.n_students + b.n_students == log.n_students
    assert len(a) + len(b) == len(log)
    assert split_by_student(log, 0.7, seed=1)[0].students() == a.students()


BOM = "\ufeff"


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("dkvmn", "15\n" + ",".join(["1"] * 15) + "\n" + ",".join(["0"] * 15) + "\n"),
        ("akt", "2,stu\n1,2\n3,4\n1,0\n"),
        ("pykt", 'fold,uid,concepts,responses\n0,u1,"1,2","1,0"\n1,u2,"3","1"\n'),
        ("csv", "user_id,item_id,skill_id,correct\nu,q,s,1\n"),
    ],
)
def test_utf8_bom_is_ignored_in_every_format(tmp_path, fmt, text):
    plain, bom = tmp_path / "plain.csv", tmp_path / "bom.csv"
    plain.write_text(text, encoding="utf-8")
    bom.write_text(BOM + text, encoding="utf-8")
    a, b = read_log(plain, fmt), read_log(bom, fmt)
    assert [(r.item_id, r.skill_ids, r.correct) for r in a] == [(r.item_id, r.skill_ids, r.correct) for r in b]
    assert len(b) > 0
    if fmt == "pykt":  # the leading fold column is still seen
        assert read_log(bom, fmt, folds=[1]).students() == ["u2"]


@pytest.mark.parametrize("kwargs", [{"folds": [0]}, {"exclude_folds": [0]}])
def test_pykt_folds_need_a_fold_column(tmp_path, kwargs):
    p = tmp_path / "p.csv"
    p.write_text('uid,concepts,responses\nu1,"1,2","1,0"\n')
    assert len(read_log(p, "pykt")) == 2
    assert len(read_log(p, "pykt", folds=None, exclude_folds=[])) == 2
    with pytest.raises(DataFormatError, match="no fold column") as err:
        read_log(p, "pykt", **kwargs)
    assert err.value.line == 1


def test_pykt_unknown_fold_names_the_folds_in_the_file(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text('fold,uid,concepts,responses\n'
                 + "".join(f'{f},u{f},"1,2","1,0"\n' for f in (3, 0, 2, 1, 4, 0)))
    with pytest.raises(DataFormatError, match=r"no responses in fold 9; the file has folds 0, 1, 2, 3, 4$"):
        read_log(p, "pykt", folds=[9])
    with pytest.raises(DataFormatError, match=r"no responses in folds 7, 9; the file has folds 0, 1, 2, 3, 4$"):
        read_log(p, "pykt", folds=[9, 7])
    assert read_log(p, "pykt", folds=[9, 2]).students() == ["u2"]
    assert len(read_log(p, "pykt", exclude_folds=[9])) == 12


def test_pykt_rows_without_a_fold_are_refused_when_folds_are_requested(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text('fold,uid,concepts,responses\n0,u0,"1,2","1,0"\n,u1,"1","1"\n')
    assert read_log(p, "pykt").n_students == 2
    for kwargs in ({"folds": [0]}, {"exclude_folds": [0]}):
        with pytest.raises(DataFormatError, match="no fold") as err:
            read_log(p, "pykt", **kwargs)
        assert err.value.line == 3


def test_tabular_csv_strips_ids(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("user_id, item_id, skill_id, correct, timestamp\nu0, s0-i0, s0, 1, 0.0\n u0 ,s0-i1 , s0 ,0 , 2\n")
    seq = read_log(p, "csv").sequence("u0")
    assert [(r.user_id, r.item_id, r.skill_ids, r.correct, r.timestamp) for r in seq] == [
        ("u0", "s0-i0", ("s0",), 1, 0.0), ("u0", "s0-i1", ("s0",), 0, 2.0)]


def test_write_csv_round_trips_quoted_ids(tmp_path):
    log = ResponseLog.from_rows([
        ('Smith, "Jo"', 'q1, part "a"', ["s1", "s2"], 1, 1.5),
        ('Smith, "Jo"', "q2\nline two", ["s,3"], 0, 2.0),
        ("plain", "q'3", ["s1"], 1, None),
    ])
    back = read_log(write_csv(log, tmp_path / "log.csv"), "csv")
    assert back.students() == log.students()
    for u in log.students():
        assert back.sequence(u) == log.sequence(u)


def test_tabular_csv_quoted_fields_after_a_space(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text('user_id,item_id,skill_id,correct\n"u, 1", "q, 1",s,1\n')
    assert [(r.user_id, r.item_id) for r in read_log(p, "csv")] == [("u, 1", "q, 1")]


def _one_answer_file(fmt: str, answer: str) -> str:
    return {
        "dkvmn": f"2\n1,2\n1,{answer}\n",
        "akt": f"2,stu\n1,2\n3,4\n1,{answer}\n",
        "pykt": f'uid,concepts,responses\nu,"1,2","1,{answer}"\n',
        "csv": f"user_id,item_id,skill_id,correct\nu,q1,s,1\nu,q2,s,{answer}\n",
    }[fmt]


@pytest.mark.parametrize("fmt", ["dkvmn", "akt", "pykt", "csv"])
@pytest.mark.parametrize(("answer", "value"), [("0", 0), ("1", 1), ("0.0", 0), ("1.0", 1)])
def test_answers_zero_and_one_are_read_alike_in_every_format(tmp_path, fmt, answer, value):
    p = tmp_path / "a.csv"
    p.write_text(_one_answer_file(fmt, answer))
    assert [r.correct for r in read_log(p, fmt)] == [1, value]


@pytest.mark.parametrize("fmt", ["dkvmn", "akt", "pykt", "csv"])
@pytest.mark.parametrize("answer", ["0.7", "1.5", "2", "-1.0", "0.00", "1e0", "true", "nan"])
def test_other_answers_are_refused_in_every_format(tmp_path, fmt, answer):
    p = tmp_path / "bad.csv"
    text = _one_answer_file(fmt, answer)
    p.write_text(text)
    line = {"dkvmn": 3, "akt": 4, "pykt": 2, "csv": 3}[fmt]
    with pytest.raises(DataFormatError, match=r"is not 0 or 1") as err:
        read_log(p, fmt)
    assert err.value.line == line
