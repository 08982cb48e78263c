"""Write a training run's outputs atomically: all of them, or nothing.

Examples:

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> with staged_output_dir(target) as staging:
...     _ = (staging / "metrics.json").write_text("{}")
>>> sorted(p.name for p in target.iterdir())
['metrics.json']
"""

import contextlib
import os
import pathlib
import shutil
import tempfile


@contextlib.contextmanager
def staged_output_dir(output_dir):
    """Yield a staging directory that replaces `output_dir` on success.

    Everything is written next to `output_dir` in a hidden temporary
    directory; only when the block finishes without an error is it renamed
    to `output_dir` (an existing directory there is replaced). On an error
    the staging directory is removed and `output_dir` is left as it was.
    """
    output_dir = pathlib.Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{output_dir.name}.partial.", dir=output_dir.parent)
    )
    try:
        yield staging
        if output_dir.exists():
            previous = output_dir.with_name(f".{output_dir.name}.previous")
            shutil.rmtree(previous, ignore_errors=True)
            os.replace(output_dir, previous)
            os.replace(staging, output_dir)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.replace(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
