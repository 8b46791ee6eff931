"""Build hook: the wheel's ``dummy_training._fixtures`` carries the suite's data and no code."""

from __future__ import annotations

from setuptools import setup
from setuptools.command.build_py import build_py

# fixtures/ becomes this package in the wheel (pyproject.toml), and fixtures/ also holds
# the generator's entry point, fixtures/generate.py, which only a checkout runs.
# setuptools copies every *.py file of a listed package and has no setting that leaves
# one out (exclude-package-data only filters data: pypa/setuptools#511), hence the hook.
DATA_ONLY = "dummy_training._fixtures"


class BuildPy(build_py):
    """build_py that copies the suite's data files but none of its Python files."""

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        if package == DATA_ONLY:
            return []
        return super().find_package_modules(package, package_dir)


setup(cmdclass={"build_py": BuildPy})
