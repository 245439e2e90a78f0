"""Build the Cython core in place: ``python setup_cython.py build_ext --inplace``.

Compiled with -O3 and without -ffast-math: the model's NaN/inf guards rely on IEEE semantics.
Set LIGHTER_MM_MARCH_NATIVE=1 to add -march=native (the binary then only runs on this CPU family).
"""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

compile_args = ["-O3"]
if os.environ.get("LIGHTER_MM_MARCH_NATIVE") == "1":
    compile_args.append("-march=native")

extension = Extension(
    "lmm._fast",
    sources=["_vol_obi_fast.pyx"],
    extra_compile_args=compile_args,
)

setup(
    name="lighter-mm-core",
    ext_modules=cythonize([extension], language_level=3, quiet=True),
    zip_safe=False,
)
