"""The notebook's kernel inside the sandbox: ipykernel's own launcher, without its debugger.

ipykernel imports debugpy as it starts (about 0.1 s of every notebook run, on the path from
sandbox start to the first cell) to serve a debugger, which no one can attach to a sandbox that
has no network. Marked absent, it is not imported and ipykernel starts without a debugger,
exactly as where debugpy is not installed. Everything else is ``ipykernel_launcher``.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    # As ipykernel_launcher: nothing in the notebook's folder can shadow what the kernel imports
    # while it starts (IPython puts the folder back on the path for the student's code).
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]
    sys.modules["debugpy"] = None  # type: ignore[assignment]

    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
