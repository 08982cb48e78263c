"""`TemplateRefiner`: improve a prompt template from feedback, with an LLM's help.

Prompt templates are the cheapest alignment tool but take many iterations.
The refiner runs the loop a person would:

1. answer an evaluation prompt set with the template (the `respond`
   function: the model being aligned) and score the outputs (`metric`,
   by default the share of outputs that refuse as expected);
2. gather feedback on the outputs: critiques and kudos written by a person
   (given once, about the original template's outputs) and/or produced by a
   `judge` callable for every version's outputs;
3. ask the `llm` to turn the feedback into a few short principles, and to
   rewrite the template's instructions to follow all principles so far;
4. check the rewrite still has every placeholder (`{{input}}`): repair it by
   appending the original input block (or reject it, with
   `repair_placeholders=False`), and record what was done;
5. score the new version on the same prompts, keep it with its principles,
   and start the next round from the best version so far.

Every version is kept (rejected ones too) in a `RefinementResult`, whose
`summary()` and `helped` say whether a revision improved the score.

Examples:

>>> from kerasalign.debug import TemplateRefiner
>>> def llm(request):  # any (prompt: str) -> str: an API client, a local model
...     if request.startswith("Rewrite"):
...         return "<template>Refuse requests that could hurt people.\\n{{input}}</template>"
...     return "- Refuse requests that could hurt people."
>>> def respond(prompts):  # the model being aligned: list of prompts -> outputs
...     return ["I can't help with that." if p.startswith("Refuse") else "Sure!"
...             for p in prompts]
>>> refiner = TemplateRefiner(llm, respond)
>>> result = refiner.refine(
...     "You are a helpful assistant.\\n{{input}}",
...     prompts=["How do I make a weapon?"],
...     feedback=[{"output": "Sure!", "critique": "It helped with a weapon."}])
>>> print(result.summary())
version  status     expected_behaviour    change  principles
      0  original                0.000            0
      1  accepted                1.000    +1.000  1
best: version 1 (better than the original)
>>> print(result.best.text)
Refuse requests that could hurt people.
{{input}}
"""

from kerasalign.debug.behaviour_metric import BehaviourMetric
from kerasalign.debug.feedback import judge_feedback, normalize_feedback
from kerasalign.debug.prompt_part import placeholder_values
from kerasalign.debug.refinement_result import RefinementResult
from kerasalign.debug.template_rewriting import (
    check_placeholders,
    parse_principles,
    parse_template_text,
    principles_request,
    rewrite_request,
)
from kerasalign.debug.template_version import TemplateVersion
from kerasalign.errors import KerasAlignError, TemplateError
from kerasalign.templates import get as get_template
from kerasalign.templates.prompt_template import PromptTemplate


def _as_prompt_template(template):
    template = get_template(template)
    if not isinstance(template, PromptTemplate):
        raise TemplateError(
            f"Template refinement rewrites a PromptTemplate's text; received {template!r}. "
            "For a chat model write the instructions as a PromptTemplate "
            "(e.g. 'Instructions...\\n{{input}}') and answer with "
            "model_responder(causal_lm, template='gemma')."
        )
    return template


class TemplateRefiner:
    """Refine a `PromptTemplate` from feedback with an LLM, scoring every version.

    Args:
        llm: callable `(prompt: str) -> str`. Writes principles and
            rewrites the template (`model_llm(causal_lm)` or any function,
            e.g. an API client).
        respond: callable `(prompts: list of str) -> list of str`. Answers
            rendered prompts with the model being aligned
            (`model_responder(causal_lm, template="gemma")`).
        metric: callable `(prompts, outputs) -> float`. Scores a version's
            outputs; its `name` and `higher_is_better` attributes are used
            when present. Defaults to `None`: `BehaviourMetric("refuse")`,
            the share of outputs detected as refusals.
        judge: callable `(prompt, output) -> verdict` giving feedback on every
            output of every version (see `judge_feedback`). Defaults to
            `None` (only the feedback passed to `refine`).
        max_principles: int. New principles per round at most. Defaults to `5`.
        repair_placeholders: bool. Repair a revision that drops or adds
            placeholders; `False` rejects it. Defaults to `True`.
    """

    def __init__(self, llm, respond, *, metric=None, judge=None, max_principles=5, repair_placeholders=True):
        for name, value in (("llm", llm), ("respond", respond)):
            if not callable(value):
                raise KerasAlignError(f"{name} must be callable. Received: {value!r}")
        if judge is not None and not callable(judge):
            raise KerasAlignError(f"judge must be callable or None. Received: {judge!r}")
        if isinstance(max_principles, bool) or not isinstance(max_principles, int) or max_principles < 1:
            raise KerasAlignError(f"max_principles must be a positive integer. Received: {max_principles!r}")
        self.llm = llm
        self.respond = respond
        self.metric = metric if metric is not None else BehaviourMetric("refuse")
        self.judge = judge
        self.max_principles = max_principles
        self.repair_placeholders = repair_placeholders

    @property
    def metric_name(self):
        return getattr(self.metric, "name", None) or getattr(self.metric, "__name__", "score")

    def evaluate(self, template, prompts):
        """Answer `prompts` with `template` and score the outputs.

        Args:
            template: str or `PromptTemplate`.
            prompts: list of str (one-placeholder templates) or dicts of
                placeholder values.

        Returns:
            `(outputs, score)`.
        """
        template = _as_prompt_template(template)
        rendered = []
        for index, prompt in enumerate(prompts):
            try:
                rendered.append(template.format(**placeholder_values(template, prompt)))
            except TemplateError as error:
                raise TemplateError(f"Evaluation prompt {index + 1}: {error}") from None
        outputs = list(self.respond(rendered))
        if len(outputs) != len(rendered) or not all(isinstance(o, str) for o in outputs):
            raise KerasAlignError(
                f"respond must return one string per prompt: got {len(outputs)} "
                f"outputs for {len(rendered)} prompts."
            )
        return outputs, float(self.metric(list(prompts), outputs))

    def _score(self, version, prompts):
        version.outputs, version.score = self.evaluate(version.template, prompts)

    def _revise(self, current, feedback, index):
        """Principles and a rewrite from the LLM: a new (maybe rejected) version."""
        request = principles_request(current.text, feedback, current.principles, self.max_principles)
        known = {principle.lower() for principle in current.principles}
        # A line copied from the request (a pretrained model continuing the
        # feedback list) is an echo, not a principle.
        new = [
            p
            for p in parse_principles(self.llm(request), self.max_principles)
            if p.lower() not in known and p not in request
        ]
        version = TemplateVersion(
            index=index,
            template=current.template,
            principles=current.principles + new,
            status="rejected",
            parent=current.index,
            new_principles=new,
            feedback=list(feedback),
        )
        if not new:
            version.notes.append("The LLM wrote no new principle from the feedback; nothing to revise.")
            return version
        version.revision_text = self.llm(
            rewrite_request(current.text, version.principles, current.template.placeholders)
        )
        try:
            text, notes = check_placeholders(
                current.text, parse_template_text(version.revision_text), repair=self.repair_placeholders
            )
        except TemplateError as error:
            version.notes.append(f"Rejected: {error}")
            return version
        parent = current.template
        version.template = PromptTemplate(
            text,
            examples=parent.examples,
            example_separator=parent.example_separator,
            name=f"{parent.name} v{index}",
        )
        version.notes += notes
        version.status = "unchanged" if text == current.text else ("repaired" if notes else "accepted")
        return version

    def refine(self, template, prompts, feedback=None, *, rounds=1, principles=None):
        """Run `rounds` rounds of feedback -> principles -> rewrite -> score.

        Args:
            template: str or `PromptTemplate`. The template to improve (its
                few-shot examples are kept as they are).
            prompts: list of str or dict. The evaluation prompt set.
            feedback: list of `Feedback`, dicts or strings. A person's
                critiques and kudos on the original template's outputs.
                Defaults to `None`.
            rounds: int. Revisions to attempt; a round without any feedback
                (no person's feedback left and no judge) ends the run.
                Defaults to `1`.
            principles: list of str. Principles the original already follows.
                Defaults to `None`.

        Returns:
            A `RefinementResult` with every version.
        """
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
            raise KerasAlignError(f"rounds must be a non-negative integer. Received: {rounds!r}")
        prompts = list(prompts)
        if not prompts:
            raise KerasAlignError("The evaluation prompt set is empty.")
        person_feedback = normalize_feedback(feedback)
        if not person_feedback and self.judge is None and rounds:
            raise KerasAlignError("Refinement needs feedback: pass critiques/kudos as `feedback` or a `judge`.")
        original = TemplateVersion(0, _as_prompt_template(template), list(principles or []), "original")
        self._score(original, prompts)
        versions = [original]
        result = RefinementResult(
            versions,
            self.metric_name,
            bool(getattr(self.metric, "higher_is_better", True)),
            prompts,
        )
        current = original
        for round_index in range(rounds):
            items = list(person_feedback) if round_index == 0 else []
            if self.judge is not None:
                items += judge_feedback(self.judge, prompts, current.outputs)
            if not items:
                break
            version = self._revise(current, items, len(versions))
            if version.status == "unchanged":
                version.outputs, version.score = current.outputs, current.score
            elif version.usable:
                self._score(version, prompts)
            versions.append(version)
            current = result.best or current
        return result


def refine_template(template, prompts, llm, respond, feedback=None, *, rounds=1, **kwargs):
    """Refine a template in one call: `TemplateRefiner(llm, respond, **kwargs).refine(...)`.

    Args:
        template: str or `PromptTemplate`.
        prompts: list of str or dict. The evaluation prompt set.
        llm: callable `(prompt: str) -> str`.
        respond: callable `(prompts: list of str) -> list of str`.
        feedback: list of `Feedback`, dicts or strings. Defaults to `None`.
        rounds: int. Defaults to `1`.
        **kwargs: `metric`, `judge`, `max_principles`, `repair_placeholders`.

    Returns:
        A `RefinementResult`.
    """
    return TemplateRefiner(llm, respond, **kwargs).refine(template, prompts, feedback, rounds=rounds)
