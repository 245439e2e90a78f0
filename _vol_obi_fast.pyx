# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython core of lighter-mm: RollingStats, VolObiCalculator and CBookSide.

Each class has a pure-Python twin with the same signature and behaviour (vol_obi.py, orderbook.py);
tests run one suite against both. The classes live in include files to keep each file to one job.
"""
include "lmm/model/_model_fast.pxi"
include "lmm/book/_book_side_fast.pxi"
include "lmm/book/_lighter_book_fast.pxi"
