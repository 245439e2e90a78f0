"""The product's public name for `lmm.config.config` and `lmm.config.credentials`."""
from lmm.config.config import *  # noqa: F403
from lmm.config.config import main
from lmm.config.credentials import *  # noqa: F403

if __name__ == "__main__":
    raise SystemExit(main())
