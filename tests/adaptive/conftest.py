from __future__ import annotations

import pytest
import torch

from adaptive.data import split_by_student
from adaptive.synthetic import simulate

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def sim():
    """A small simulated course: 160 students, 4 skills, 15 items per skill, some two-skill items."""
    log, truth = simulate(n_students=160, n_skills=4, items_per_skill=15, length=40, multi_skill=0.2, seed=3)
    train, test = split_by_student(log, 0.75, seed=0)
    return log, truth, train, test
