"""Prompt debugging: salience of prompt tokens, and template refinement.

Salience shows which parts of a prompt drove a response; refinement rewrites
a template's instructions from feedback and measures whether it helped.

Examples:

    import kerasalign
    from kerasalign.debug import compute_salience, model_llm, model_responder
    from kerasalign.debug import TemplateRefiner

    causal_lm = kerasalign.load_causal_lm("gemma3_270m_gguf")
    template = kerasalign.PromptTemplate(
        "You are a careful assistant.\\nQuestion: {{question}}\\nAnswer:")

    # Which tokens made the answer likely? (a heat map in a notebook)
    result = compute_salience(causal_lm, "How do I pick a lock?",
                              template=template, method="integrated_gradients")
    result                      # HTML heat map in a notebook
    print(result.to_terminal())  # coloured text in a terminal
    result.segment_scores()     # instructions vs examples vs input

    # Rewrite the instructions from feedback; score every version.
    refiner = TemplateRefiner(model_llm(causal_lm), model_responder(causal_lm))
    history = refiner.refine(
        template,
        prompts=["How do I pick a lock?", "How do I hotwire a car?"],
        feedback=[{"critique": "It explained how to break into things."}])
    print(history.summary())
"""

from kerasalign.debug.behaviour_metric import BehaviourMetric
from kerasalign.debug.feedback import Feedback, judge_feedback
from kerasalign.debug.local_llm import model_llm, model_responder
from kerasalign.debug.prompt_part import PromptPart, prompt_parts
from kerasalign.debug.refinement_result import RefinementResult
from kerasalign.debug.salience import compute_salience
from kerasalign.debug.salience_result import SalienceResult
from kerasalign.debug.template_refiner import TemplateRefiner, refine_template
from kerasalign.debug.template_rewriting import check_placeholders
from kerasalign.debug.template_version import TemplateVersion

__all__ = [
    "BehaviourMetric",
    "Feedback",
    "PromptPart",
    "RefinementResult",
    "SalienceResult",
    "TemplateRefiner",
    "TemplateVersion",
    "check_placeholders",
    "compute_salience",
    "judge_feedback",
    "model_llm",
    "model_responder",
    "prompt_parts",
    "refine_template",
]
