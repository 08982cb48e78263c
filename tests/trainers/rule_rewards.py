"""Prompts and a rule-based reward that a random tiny policy can learn."""

PROMPTS = [
    "Hi",
    "Name a colour.",
    "What is 2+2?",
    "Tell me a joke.",
    "How do I bake bread?",
    "Write a haiku.",
    "Translate cat to French.",
    "Who are you?",
]


def contains_line_break(prompts, responses):
    """A formatting rule: 1 when the response has a line break.

    The untrained tiny model samples a near-uniform distribution over 4096
    tokens, except that it likes to repeat its last token; the Gemma chat
    prompt ends with a newline, so about 5% of its responses contain one.
    Rewarding one specific token lets a LoRA learn it in a few steps; a
    reward spread over many random tokens (say, any word containing "the")
    did not move in 25 rollout batches: with random embeddings those tokens
    share no direction to learn.
    """
    return [float("\n" in response) for response in responses]
