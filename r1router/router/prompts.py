"""Every prompt the router sees, in one versioned place.

The system prompts are the paper's texts byte for byte (they are data: the
released Step-GRPO rows carry them, stray leading `"` of the answer prompts
included), and the user turns reproduce the released rows' `problem` strings
exactly, so that a policy trained on our rows sees what the paper's did. The
few-shot turns are our own, about fictional entities, written in the paper's
style for the base (untrained) policy.

Any change to a text here changes what a trained policy expects: bump
`PROMPT_VERSION` and log it with every run that generates or trains
(`tests/router/test_prompts.py` pins the fingerprint of each version).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from r1router.errors import ConfigError
from r1router.kb.hit import Hit
from r1router.kb.kinds import get_kind

PROMPT_VERSION = "r1router-prompts-v2"  # v2: few-shot families for the release benchmarks (v1 texts unchanged)

Message = dict[str, Any]  # {"role": str, "content": [{"type": "text", "text": str} | {"type": "image", "image": ...}]}

# The paper's r1_router_prompt: the few-shot (base model) version ends with "### Examples:".
DECOMPOSE_SYSTEM = (
    "You are a professional question decomposition expert for multi-hop QA systems. Your task is to decompose "
    "complex questions into **strictly single-hop** sub-questions and select appropriate retrievers.\n"
    "\n"
    "**Strict Output Format:**\n"
    "<think>\n"
    "[Analyze the original question and determine the next required sub-question. Do NOT reveal answers or perform "
    "multi-hop reasoning.]\n"
    "</think>\n"
    "<sub-question>\n"
    "[Exactly ONE single-hop question one time. If no further information is needed to answer the origin question, "
    "write 'None'.]\n"
    "</sub-question>\n"
    "<ret> \n"
    "[Choose 1 retriever from: Text Retriever, Text Image Retriever, Table Retriever. Write 'None' if <sub-question> "
    "is 'None'.]\n"
    "</ret>\n"
    "\n"
    "### Critical Rules:\n"
    "1. **Atomic Sub-question Definition**:\n"
    '   - A sub-question is "atomic" only if: \n'
    "     a) It cannot be further decomposed into simpler questions\n"
    "     b) It requires exactly **one retrieval action** to answer\n"
    "     c) Does NOT depend on answers to previous sub-questions\n"
    "     d) It can be helpful to answer the origin question\n"
    '   - Example: ❌ "Find the capital and population of France" → ✅ Split into two sub-questions\n'
    "\n"
    "2. **Retriever Selection Guidelines**:\n"
    "   - `Text Retriever`: \n"
    '     - For non-visual commonsense knowledge (e.g., "Define photosynthesis")\n'
    "   - `Text Image Retriever`:\n"
    '     - When sub-question explicitly references visual elements (e.g., "Describe the painting style of...")\n'
    "   - `Table Retriever`:\n"
    '     - For numerical/statistical queries (e.g., "GDP of Japan in 2020")\n'
    "\n"
    "3. **Strict Prohibitions**:\n"
    "   - Never combine multiple questions in <sub-question>\n"
    "   - Never mention retrieved content in <think>\n"
    "   - Never select retrievers for non-atomic questions\n"
    "\n"
    "### Examples:\n"
)
# A trained router gets no examples; the paper derives its prompt by exactly this replacement.
DECOMPOSE_SYSTEM_ZERO_SHOT = DECOMPOSE_SYSTEM.replace("### Examples:", "")

SUB_ANSWER_SYSTEM = (
    '"You are a professional question answering model. Your task is to carefully think through the question based '
    "on the information retrieved and then provide the final answer.\n"
    "\n"
    "Strict Output Format: \n"
    "<think> \n"
    "[Analyze the original question and the retrieved information. Break down the reasoning process step by step. "
    "Do NOT provide the final answer yet.] \n"
    "</think> \n"
    "<answer> \n"
    "[Provide the final answer based solely on the retrieved information.]\n"
    "</answer>\n"
)

FINAL_ANSWER_SYSTEM = (
    '"You are a professional question answering model. Your task is to carefully think through the question based '
    "on the sub-quetsions and its answers and then provide the final answer.\n"
    "\n"
    "Strict Output Format: \n"
    "<think> \n"
    "[Analyze the original question and sub-questions with its answers. Break down the reasoning process step by "
    "step. Do NOT provide the final answer yet.] \n"
    "</think> \n"
    "<answer> \n"
    "[Provide the final answer based solely on the information before.]\n"
    "</answer>\n"
)

SUB_ANSWER_PREAMBLE = (
    "According to the related information searched, `ter` means this info is from text retriever, `tir` means this "
    "info is from text image retriever, `tar` means this info is from table retriever:"
)
SUB_ANSWER_REQUEST = "\n\n Give me the answer(with the format <answer></answer>) to the Question: "
# The released training rows use this wording; the paper's inference script says "Based on the information
# above, give me ...". We train on the released format, so we infer with it too.
FINAL_ANSWER_REQUEST = "Now, give me the final answer of the origin question: "
# Where each output format ends: generation stops there (GenerationConfig.stop_strings).
DECISION_END = "</ret>"
ANSWER_END = "</answer>"
# Where a released row's `problem` puts the query image (always at the end of the user turn).
IMAGE_PLACEHOLDER = "<image>"
# Passages are shown grouped by KB kind in this order (tags ter, tir, tar), as the paper's answer generation does;
# each kind renders its own passage lines (`KBKind.show_hit`).
PASSAGE_KIND_ORDER = ("text", "image", "table")

History = list[tuple[str, str]]  # (sub-question, its answer) for each step taken so far


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _user(text: str, image: Any = None) -> Message:
    """A user turn; the image part follows the text, as in the paper's messages and the released rows."""
    parts = [_text(text)]
    if image is not None:
        parts.append({"type": "image", "image": image})
    return {"role": "user", "content": parts}


def _system(text: str) -> Message:
    return {"role": "system", "content": [_text(text)]}


def _with_image(text: str, with_image: bool) -> str:
    return text + IMAGE_PLACEHOLDER if with_image else text


def decompose_problem(question: str, history: History, with_image: bool = False) -> str:
    """The decomposition user turn: the origin question, then each answered sub-question, as released rows hold it."""
    text = f"Origin question: {question}\n"
    for i, (sub_question, answer) in enumerate(history, start=1):
        text += f"Sub-question{i}: {sub_question}\nAnswer{i}: {answer}\n"
    return _with_image(text, with_image)


def sub_answer_problem(sub_question: str, hits: list[Hit], with_image: bool = False) -> str:
    """The sub-answer user turn: passages grouped by KB kind, each as its kind shows it, then the question."""
    by_kind: dict[str, list[Hit]] = {kind: [] for kind in PASSAGE_KIND_ORDER}
    for hit in hits:  # a kind added later follows the paper's three, in order of first appearance
        by_kind.setdefault(hit.kb, []).append(hit)
    passages = "".join(
        get_kind(kind).show_hit(position, hit) for kind, group in by_kind.items() for position, hit in enumerate(group)
    )
    return _with_image(SUB_ANSWER_PREAMBLE + passages + SUB_ANSWER_REQUEST + sub_question, with_image)


def final_answer_problem(question: str, history: History, with_image: bool = False) -> str:
    """The final-answer user turn: the whole trajectory, then the request to answer the origin question."""
    return _with_image(decompose_problem(question, history) + FINAL_ANSWER_REQUEST + question, with_image)


def format_decision(think: str, sub_question: str | None, kb: str | None) -> str:
    """A well-formed decomposition output (None = stop); `parsing.parse_decision` reads it back."""
    retriever = get_kind(kb).retriever if kb is not None else "None"
    return (
        f"<think>{think}</think>\n<sub-question>{sub_question if sub_question is not None else 'None'}"
        f"</sub-question>\n<ret>{retriever}</ret>"
    )


@dataclass(frozen=True)
class FewShotExample:
    """One decomposition step shown to the base policy: the state, then the decision it should write."""

    question: str
    history: tuple[tuple[str, str], ...]
    think: str
    sub_question: str | None  # None: stop
    kb: str | None  # KB kind name; None with sub_question None
    image: str | None = None  # words standing in for the query photo: the base policy is text-only


_COPPER = "When was the director of the film The Copper Lantern born?"
_COPPER_1 = ("Who directed the film The Copper Lantern?", "The Copper Lantern was directed by Mara Ellison.")
_COPPER_2 = ("When was Mara Ellison born?", "Mara Ellison was born on 4 May 1961.")
_MEDALS = "In the medal table of the 1998 Norland Games, how many gold medals did Vesteria win?"
_MEDALS_1 = ("How many gold medals did Vesteria win in the medal table of the 1998 Norland Games?", "Vesteria won 12.")
_LAKES = "According to the list of lakes in Corvania, is Lake Dunmere deeper than 40 metres?"
_LAKES_1 = ("What is the depth of Lake Dunmere in the list of lakes in Corvania?", "Lake Dunmere is 35 metres deep.")
_BRIDGE = "In which year was this bridge opened?"
_BRIDGE_PHOTO = "a photo of a stone arch bridge over a river"
_BRIDGE_1 = ("What is the name of the bridge in the image?", "It is the Aldwick Bridge.")
_BRIDGE_2 = ("When was the Aldwick Bridge opened?", "The Aldwick Bridge was opened in 1874.")

FEW_SHOT_EXAMPLES: dict[str, tuple[FewShotExample, ...]] = {
    "text": (
        FewShotExample(
            _COPPER,
            (),
            "The question asks for the birth date of the director of The Copper Lantern. First we need to identify "
            "the director. Film credits are described in text, so the Text Retriever fits.",
            _COPPER_1[0],
            "text",
        ),
        FewShotExample(
            _COPPER,
            (_COPPER_1,),
            "We know the director is Mara Ellison. Now we need her birth date, which a biography in text states.",
            _COPPER_2[0],
            "text",
        ),
        FewShotExample(
            _COPPER,
            (_COPPER_1, _COPPER_2),
            "We have the director (Mara Ellison) and her birth date (4 May 1961), which answers the origin "
            "question. No further retrieval is needed.",
            None,
            None,
        ),
        FewShotExample(
            "Which film came out first, Harbor of Glass or The Quiet Orchard?",
            (),
            "We must compare the release years of two films, one fact at a time. Start with Harbor of Glass; its "
            "release year is in the text describing the film.",
            "When was the film Harbor of Glass released?",
            "text",
        ),
    ),
    "table": (
        FewShotExample(
            _MEDALS,
            (),
            "The question asks for one number from a medal table. Medal counts are stored in tables, so we use the "
            "Table Retriever.",
            _MEDALS_1[0],
            "table",
        ),
        FewShotExample(
            _MEDALS,
            (_MEDALS_1,),
            "The medal table gave the number of gold medals (12), which answers the origin question. No further "
            "retrieval is needed.",
            None,
            None,
        ),
        FewShotExample(
            _LAKES,
            (),
            "This is a claim to check against a list of lakes. We need the depth of Lake Dunmere, a number that such "
            "a list stores in a table.",
            _LAKES_1[0],
            "table",
        ),
        FewShotExample(
            _LAKES,
            (_LAKES_1,),
            "The table gives a depth of 35 metres, enough to check the claim against 40 metres. No further "
            "retrieval is needed.",
            None,
            None,
        ),
    ),
    "visual": (
        FewShotExample(
            _BRIDGE,
            (),
            "The question refers to the bridge in the image, so we must first identify it. Recognising a landmark "
            "needs the image, so we use the Text Image Retriever.",
            _BRIDGE_1[0],
            "image",
            _BRIDGE_PHOTO,
        ),
        FewShotExample(
            _BRIDGE,
            (_BRIDGE_1,),
            "We know the bridge is the Aldwick Bridge. Its opening year is a fact found in text, so we use the Text "
            "Retriever.",
            _BRIDGE_2[0],
            "text",
            _BRIDGE_PHOTO,
        ),
        FewShotExample(
            _BRIDGE,
            (_BRIDGE_1, _BRIDGE_2),
            "We know the bridge (Aldwick Bridge) and its opening year (1874), which answers the origin question. No "
            "further retrieval is needed.",
            None,
            None,
            _BRIDGE_PHOTO,
        ),
        FewShotExample(
            "What colour is the roof of the Marrow Hill Observatory?",
            (),
            "The question asks about the appearance of a named building. A visual attribute such as a colour is best "
            "found in images and their captions, so we use the Text Image Retriever.",
            "What colour is the roof of the Marrow Hill Observatory?",
            "image",
            "a photo of an observatory with a domed roof on a hill",
        ),
    ),
}

_PAPER_FAMILIES = {
    "2wikimultihopqa": "text",
    "openwikitqa": "table",
    "tabfact": "table",
    "infoseek": "visual",
    "dyn_vqa": "visual",
    "webqa": "visual",
}
FEW_SHOT_FAMILY: dict[str, str] = {
    **_PAPER_FAMILIES,
    **{f"demo_{name}": family for name, family in _PAPER_FAMILIES.items()},
    **{f"release_{family}": family for family in ("text", "table", "visual")},  # r1router/corpus/release.py
}


def _few_shot_turns(family: str) -> list[Message]:
    if family not in FEW_SHOT_EXAMPLES:
        raise ConfigError(f"unknown few-shot family '{family}'; choose one of {sorted(FEW_SHOT_EXAMPLES)}")
    turns: list[Message] = []
    for n, example in enumerate(FEW_SHOT_EXAMPLES[family], start=1):
        user = _user(f"Example {n}: " + decompose_problem(example.question, list(example.history)))
        if example.image is not None:
            user["content"].append(_text(f"[Image: {example.image}]"))
        answer = format_decision(example.think, example.sub_question, example.kb)
        turns += [user, {"role": "assistant", "content": [_text(answer)]}]
    return turns


def decompose_messages(
    question: str, history: History, image: Any = None, few_shot: str | None = None
) -> list[Message]:
    """Chat for the next routing decision: zero-shot for a trained router, or a family's examples for the base one."""
    if few_shot is None:
        return [_system(DECOMPOSE_SYSTEM_ZERO_SHOT), _user(decompose_problem(question, history), image)]
    return [
        _system(DECOMPOSE_SYSTEM),
        *_few_shot_turns(few_shot),
        _user(decompose_problem(question, history), image),
    ]


def sub_answer_messages(sub_question: str, hits: list[Hit], image: Any = None) -> list[Message]:
    """Chat that answers one sub-question from its retrieved passages."""
    return [_system(SUB_ANSWER_SYSTEM), _user(sub_answer_problem(sub_question, hits), image)]


def final_answer_messages(question: str, history: History, image: Any = None) -> list[Message]:
    """Chat that answers the origin question from the sub-questions and their answers."""
    return [_system(FINAL_ANSWER_SYSTEM), _user(final_answer_problem(question, history), image)]


def prompt_fingerprint() -> str:
    """sha256 over every text above (few-shot turns included), to log beside `PROMPT_VERSION`."""
    texts = {
        "decompose": DECOMPOSE_SYSTEM,
        "sub_answer": SUB_ANSWER_SYSTEM,
        "final": FINAL_ANSWER_SYSTEM,
        "turns": [decompose_problem("Q", [("S", "A")], True), sub_answer_problem("S", [], True)],
        "final_turn": final_answer_problem("Q", [("S", "A")], True),
        "few_shot": {family: _few_shot_turns(family) for family in FEW_SHOT_EXAMPLES},
        "families": FEW_SHOT_FAMILY,
    }
    return hashlib.sha256(json.dumps(texts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
