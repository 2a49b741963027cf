"""The step-wise router: prompts, strict parsing of its outputs, and the policy that generates them.

The loop (decompose → retrieve → sub-answer → … → final answer) is built from
these three parts so that a trainer, an evaluator and a vLLM backend all see
the same prompt texts and the same definition of a well-formed output.
"""
