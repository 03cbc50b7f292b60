"""Build configuration that pyproject.toml cannot hold with setuptools < 74: the optional C accelerator.

slots._speedups is optional: without a C compiler the build skips it and slots runs in pure Python.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("slots._speedups", sources=["slots/_speedups.c"], optional=True)])
