"""Both implementations of the model core, as pytest params: pure Python and the Cython extension.

The Cython param is skipped, with the reason, only when the extension is not built (or is a build that
predates these classes). Test modules declare `impl` as a fixture parametrised over IMPL_PARAMS.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

import lmm.model.vol_obi as vol_obi


@dataclass(frozen=True)
class ModelImpl:
    name: str
    RollingStats: type
    VolObiCalculator: type


PYTHON_IMPL = ModelImpl("python", vol_obi.PyRollingStats, vol_obi.PyVolObiCalculator)


def _load_cython() -> tuple[ModelImpl | None, str]:
    try:
        import lmm._fast as _vol_obi_fast
    except ImportError as exc:
        return None, f"Cython extension _vol_obi_fast not built ({exc}); run setup_cython.py build_ext --inplace"
    missing = [name for name in ("RollingStats", "VolObiCalculator") if not hasattr(_vol_obi_fast, name)]
    if missing:
        return None, f"_vol_obi_fast is a stale build without {missing}; rebuild with setup_cython.py"
    return ModelImpl("cython", _vol_obi_fast.RollingStats, _vol_obi_fast.VolObiCalculator), ""


CYTHON_IMPL, CYTHON_SKIP_REASON = _load_cython()

IMPL_PARAMS = [
    pytest.param(PYTHON_IMPL, id="python"),
    pytest.param(
        CYTHON_IMPL,
        id="cython",
        marks=pytest.mark.skipif(CYTHON_IMPL is None, reason=CYTHON_SKIP_REASON),
    ),
]
