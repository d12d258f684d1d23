from __future__ import annotations

import pytest

from adaptive.data import DataFormatError, Response, ResponseLog, read_log, split_by_student


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
