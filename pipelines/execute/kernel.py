"""The notebook's kernel inside the sandbox: ipykernel's own launcher, without its debugger, with
the runner's output caps.

ipykernel imports debugpy as it starts (about 0.1 s of every notebook run, on the path from
sandbox start to the first cell) to serve a debugger, which no one can attach to a sandbox that
has no network. Marked absent, it is not imported and ipykernel starts without a debugger,
exactly as where debugpy is not installed. Its streams and display publisher drop a cell's output
past the runner's caps (``--output-cap`` per cell, ``--total-cap`` per notebook, in characters),
which the runner passes first (``pipelines.execute.kernel_output``). Everything else is
``ipykernel_launcher``.
"""

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":
    # As ipykernel_launcher: nothing in the notebook's folder can shadow what the kernel imports
    # while it starts (IPython puts the folder back on the path for the student's code).
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]
    sys.modules["debugpy"] = None  # type: ignore[assignment]
    caps = argparse.ArgumentParser(allow_abbrev=False)
    caps.add_argument("--output-cap", type=int, required=True)
    caps.add_argument("--total-cap", type=int, required=True)
    given, kernel_args = caps.parse_known_args()

    from ipykernel import kernelapp

    from pipelines.execute.kernel_output import BUDGET, CappedKernel, CappedOutStream

    BUDGET.set_caps(given.output_cap, given.total_cap)
    kernelapp.launch_new_instance(kernel_args, kernel_class=CappedKernel,
                                  outstream_class=f"{CappedOutStream.__module__}.{CappedOutStream.__qualname__}")
