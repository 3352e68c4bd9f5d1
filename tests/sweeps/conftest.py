import os
import shutil
import subprocess
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "slurm-localhost"


def slurm_localhost(action: str, folder: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(TOOL), action, str(folder)], capture_output=True, text=True, timeout=timeout)


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "a localhost Slurm needs root (slurmd starts jobs as their users)"
    missing = [name for name in ("munged", "slurmctld", "slurmd", "sbatch", "srun") if shutil.which(name) is None]
    if missing:
        return f"no Slurm here: {', '.join(missing)} not on PATH (apt-get install slurm-wlm munge)"
    return None


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A one-node Slurm on localhost (tools/slurm-localhost) for this test process; SLURM_CONF points at it.
    Each xdist worker that needs one starts its own, in its own folder on free ports, so workers never share
    daemons; it is always stopped at the end, whatever happened."""
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("slurm", numbered=True)
    with pytest.MonkeyPatch.context() as patch:
        try:
            started = slurm_localhost("start", folder)
            if started.returncode != 0:  # a port taken between choosing and binding: once more, on new ports
                slurm_localhost("stop", folder)
                started = slurm_localhost("start", folder)
            if started.returncode != 0:
                pytest.skip(f"the localhost Slurm did not start: {started.stderr.strip().splitlines()[-1:]}")
            conf = folder / "slurm.conf"
            patch.setenv("SLURM_CONF", str(conf))
            yield conf
        finally:
            stopped = slurm_localhost("stop", folder)
            assert stopped.returncode == 0, f"the localhost Slurm did not stop: {stopped.stderr.strip()}"
