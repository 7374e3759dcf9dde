"""testmon-shim: makes `pytest -n auto --testmon` (pytest-testmon under pytest-xdist) work.

The package carries libtestmon_shim.so and the testmon-shim command (both next to this file),
and a pytest plugin (testmon_shim.plugin) that brings the library into xdist runs of testmon.
"""
