import subprocess
import sys

from monai_pipelines.transforms.robust_load import CorruptedImageError
from monai_pipelines.utils.errors import find_user_error


def test_finds_the_bad_input_error_in_a_chain():
    bad = CorruptedImageError("/data/x.nii.gz", "empty file (0 bytes)")
    try:
        try:
            raise bad
        except CorruptedImageError as e:
            raise RuntimeError("applying transform <LoadImaged>") from e
    except RuntimeError as wrapped:
        assert find_user_error(wrapped) is bad
    assert find_user_error(RuntimeError("something else")) is None


def test_uncaught_bad_input_prints_one_line(tmp_path):
    code = (
        "from monai_pipelines.utils.errors import install_error_hook\n"
        "from monai_pipelines.transforms.robust_load import CorruptedImageError\n"
        "install_error_hook(); install_error_hook()\n"
        "try:\n    raise CorruptedImageError('/d/a.nii.gz', 'truncated gzip stream')\n"
        "except Exception as e:\n    raise RuntimeError('wrapper') from e\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["error: /d/a.nii.gz: truncated gzip stream  (full traceback: MONAI_PIPELINES_TRACEBACK=1)"]


def test_other_errors_keep_their_traceback():
    code = "from monai_pipelines.utils.errors import install_error_hook\ninstall_error_hook()\nraise KeyError('x')\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" in result.stderr and "KeyError" in result.stderr
