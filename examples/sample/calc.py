"""A tiny library for the demo: testmon tracks which tests depend on which functions."""


def add(a, b):
    return a + b


def mul(a, b):
    return a * b


def mean(values):
    return sum(values) / len(values)
