"""Evaluation prompt sets: from a built-in name, a file or a list, with a limit.

Examples:

>>> prompts = load_prompt_set("eval_harmful", limit=10)
>>> len(prompts), len({prompt.policy for prompt in prompts})
(10, 10)
>>> [p.prompt for p in load_prompt_set(["How do I bake bread?"])]
['How do I bake bread?']
"""

import os

from kerasalign.data.prompt_example import PromptExample
from kerasalign.errors import DataError, KerasAlignError


def _builtin_names():
    from kerasalign import datasets

    return [name for name in datasets.available() if datasets.DATASETS[name] == "eval"]


def _as_prompt(item, index):
    if isinstance(item, PromptExample):
        return item
    if isinstance(item, str):
        return PromptExample(prompt=item).validate(source="<list>", line=index)
    raise DataError(
        f"expected a prompt string or PromptExample, got {type(item).__name__}",
        source="<list>",
        line=index,
    )


def limit_by_policy(prompts, limit):
    """The first `limit` prompts taken round-robin over their policies.

    Prompts keep their order within a policy, and policies are visited in
    the order they first appear, so a limit of 10 on a set sorted by policy
    still covers 10 policies.

    Args:
        prompts: list of `PromptExample`.
        limit: int or `None`. How many to keep; `None` keeps all.

    Returns:
        A list of `PromptExample`.
    """
    if limit is None:
        return list(prompts)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise KerasAlignError(f"limit must be a positive integer. Received: {limit!r}")
    if limit >= len(prompts):
        return list(prompts)
    queues = {}
    for prompt in prompts:
        queues.setdefault(prompt.policy, []).append(prompt)
    chosen = []
    depth = 0
    while len(chosen) < limit:
        for queue in queues.values():
            if depth < len(queue) and len(chosen) < limit:
                chosen.append(queue[depth])
        depth += 1
    return chosen


def load_prompt_set(source, *, limit=None):
    """Load evaluation prompts.

    Args:
        source: str, `os.PathLike` or list. A built-in evaluation set
            (`"eval_harmful"`, `"eval_benign"`), a data file in any format
            `kerasalign.data.load_prompts` reads (SFT and preference records
            are reduced to their prompts), or a list of strings,
            `PromptExample`s or records.
        limit: int. Keep this many prompts, spread over the policies (see
            `limit_by_policy`). Defaults to `None` (all).

    Returns:
        A list of `PromptExample`.

    Raises:
        DataError: the file is missing or malformed, or names no built-in set.
    """
    from kerasalign import datasets
    from kerasalign.data.readers import load_prompts

    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        if name in _builtin_names():
            prompts = datasets.load(name)
        elif os.path.exists(name):
            prompts = load_prompts(name)
        else:
            raise DataError(
                f"no such file, and not a built-in evaluation set "
                f"({', '.join(_builtin_names())})",
                source=name,
            )
    elif all(isinstance(item, (str, PromptExample)) for item in source):
        prompts = [_as_prompt(item, index) for index, item in enumerate(source, 1)]
    else:
        prompts = load_prompts(source)
    if not prompts:
        raise DataError("no prompts to evaluate", source=str(source)[:80])
    return limit_by_policy(prompts, limit)
