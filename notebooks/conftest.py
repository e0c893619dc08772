"""pytest configuration for `pytest --nbval notebooks`.

Run directly, nbval should check the notebooks in the same fast mode as
`make test`; an explicit D2LMINI_FAST in the environment still wins. The
kernels nbval starts inherit this process's environment.
"""
import os

os.environ.setdefault("D2LMINI_FAST", "1")
