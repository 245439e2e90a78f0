"""The product's public name for `lmm.config.config`."""
from lmm.config.config import *  # noqa: F403
from lmm.config.config import main

if __name__ == "__main__":
    raise SystemExit(main())
