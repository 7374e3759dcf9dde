# The aarch64 suite (tests/aarch64/README.md).  Included by the main Makefile.
#   make e2e-aarch64        make wheel, then tests/aarch64/run.sh: the cross-built library's unit
#                           tests and the aarch64 wheel's e2e cells and negative control, emulated
#                           by qemu-user in an arm64 sysroot (.cache/aarch64); needs root
#   make aarch64-sysroot    only build (or reuse) the sysroot: tests/aarch64/sysroot.sh
#   make unit-aarch64       only the cross-built unit tests: tests/aarch64/unit.sh
.PHONY: e2e-aarch64 aarch64-sysroot unit-aarch64
e2e-aarch64: wheel
	BUILD='$(BUILD)' E2E_PYTHON='$(E2E_PYTHON)' tests/aarch64/run.sh
aarch64-sysroot:
	tests/aarch64/sysroot.sh
unit-aarch64:
	tests/aarch64/unit.sh
