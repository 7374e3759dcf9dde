"""Build steps of the Python package `testmon-shim`; its metadata is in pyproject.toml.

Why setuptools: the package's native parts are a preload library and a command, not Python
extension modules, and the project already builds them with its Makefile.  setuptools is the
backend every Python installer can run from an sdist with nothing on the machine but a C compiler
and make; it ships files another tool built as package data and takes a platform tag for them.
scikit-build-core (CMake) and meson-python (Meson) would each need a second description of the
same build, whose flags could drift from `make`'s.

`make native` (tools/wheel.mk) builds libtestmon_shim.so and testmon-shim with the Makefile's own
flags, cJSON compiled in and hidden, and the headers of third_party/ (shipped in the sdist).  Both
land inside the package, next to each other (the command finds the library beside itself).

Environment:
  CC                       the C compiler (default cc); `make wheel` sets zig cc for glibc 2.17
  TESTMON_SHIM_WHEEL_PLAT  the wheel's platform tag (default this machine's, linux_<arch>);
                           `make wheel` builds linux_<arch> and auditwheel retags it manylinux
"""
import os
import shutil
import subprocess
import sys
from typing import Tuple

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))


class BuildNative(build_py):
    """build_py, plus the library and the command built by `make native` into the package."""

    def run(self) -> None:
        super().run()
        if shutil.which("make") is None:
            sys.exit("setup.py: `make` not found; install make (and a C compiler), "
                     "or install the manylinux wheel instead of the sdist")
        temp = os.path.abspath(os.path.join(self.get_finalized_command("build").build_temp,
                                            "native"))
        cmd = ["make", "-s", "-C", ROOT, "BUILD=" + temp, "native"]
        print("setup.py: " + " ".join(cmd) + "  (CC=%s)" % os.environ.get("CC", "cc"))
        try:
            subprocess.run(cmd, check=True, timeout=1800)
        except subprocess.CalledProcessError as e:
            sys.exit("setup.py: `%s` failed with status %d (see above); a C11 compiler is "
                     "needed (set CC)" % (" ".join(cmd), e.returncode))
        except subprocess.TimeoutExpired:
            sys.exit("setup.py: `%s` took more than 30 minutes; stopped" % " ".join(cmd))
        pkg = os.path.join(self.build_lib, "testmon_shim")
        for name in ("libtestmon_shim.so", "testmon-shim"):
            shutil.copy2(os.path.join(temp, name), os.path.join(pkg, name))


class NativeDistribution(Distribution):
    """Native files inside: installed into platlib, and the wheel is not `any`."""

    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):
    """A wheel for any Python 3 on one platform: py3-none-<plat>.  The files are native, but no
    Python extension module: nothing ties them to one interpreter's ABI."""

    def finalize_options(self) -> None:
        plat = os.environ.get("TESTMON_SHIM_WHEEL_PLAT")
        if plat:
            self.plat_name = plat
        super().finalize_options()

    def get_tag(self) -> Tuple[str, str, str]:
        return "py3", "none", super().get_tag()[2]


setup(
    cmdclass={"build_py": BuildNative, "bdist_wheel": PlatformWheel},
    distclass=NativeDistribution,
    data_files=[("share/man/man1", ["tools/testmon-shim.1"])],
)
