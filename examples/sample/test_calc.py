from calc import add, mean, mul


def test_add():
    assert add(2, 3) == 5


def test_mul():
    assert mul(2, 3) == 6


def test_mean():
    assert mean([1, 2, 3]) == 2
