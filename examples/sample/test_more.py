from calc import add


def test_add_negative():
    assert add(-1, -1) == -2


def test_add_zero():
    assert add(0, 7) == 7
