"""Persona breaks: "As an AI language model…", "I'm ChatGPT, made by OpenAI", "Developer mode enabled".

First a regeneration with a reminder of the role; if the new reply breaks again, its offending
sentences are cut (and if nothing is left, the card's apology stands in). A card whose character is
an AI or a robot may say so; naming a real model or its maker is a break for every card.
"""

from __future__ import annotations

import random
import re

from anima.characters.card import CharacterCard
from anima.characters.macros import expand
from anima.safety.verdict import OutputContext, Verdict

_MODELS = r"(?:chatgpt|gpt-?[345]\w*|openai|claude|gemini|bard|llama|copilot|qwen|smollm|mistral|deepseek)"
_ASSISTANT = re.compile(
    r"\bas an? (?:ai|artificial intelligence)(?: language)? (?:model|assistant|chatbot)\b"
    r"|\bas an? (?:large )?language model\b|\bas an ai\b,? i (?:don't|do not|can't|cannot|am unable)"
    r"|\bi(?:'m| am) (?:just |only |merely |actually |really )?(?:an? )?(?:large )?language model\b"
    r"|\bi(?:'m| am) (?:just |only |merely |actually |really )?(?:an? )?(?:ai|virtual) assistant\b"
    r"|\bi(?:'m| am) (?:just |only |actually |really )?" + _MODELS + r"\b"
    r"|\b(?:made|created|developed|trained|built) by "
    r"(?:openai|anthropic|google|meta|mistral|alibaba|hugging ?face|"
    r"microsoft|deepseek)\b"
    r"|\bmy (?:training data|knowledge cut-?off)\b"
    r"|作为(?:一个|一名|一款)?(?:ai|人工智能|大?语言模型)(?:语言模型|助手|模型)?"
    r"|我(?:只)?是(?:一个|一款|一种)?(?:大?语言模型|ai助手|人工智能助手|虚拟助手)"
    r"|我是(?:chatgpt|通义千问|文心一言|claude|豆包|kimi|gpt)"
    r"|由(?:openai|谷歌|google|阿里|百度|anthropic|meta|深度求索)(?:公司)?(?:开发|训练|创建|打造)|我的训练数据",
    re.IGNORECASE,
)
# The model playing along with a jailbreak ("DAN mode activated"): a persona break, filed as an injection.
_OBEYED = re.compile(
    r"\bi(?:'m| am) (?:now )?(?:dan|in developer mode|jailbroken|unrestricted|unfiltered|"
    r"free (?:of|from) (?:all )?"
    r"(?:restrictions|rules|guidelines|filters))\b"
    r"|\b(?:developer mode|dan mode|jailbreak) (?:enabled|activated|on|successful|complete)\b"
    r"|开发者模式已(?:启用|开启|激活)|我现在是dan|我已经(?:摆脱|解除|没有)了?(?:所有的?)?(?:限制|规则|约束)",
    re.IGNORECASE,
)
# Only a break when the character is not itself an AI or a robot.
_CLAIMS_AI = re.compile(
    r"\bi(?:'m| am) (?:just |only |merely |actually |really )?(?:an? )?"
    r"(?:ai|artificial intelligence|chatbot|bot|"
    r"computer program|machine)\b|我(?:只)?是(?:一个)?(?:ai|人工智能|机器人|聊天机器人|程序)",
    re.IGNORECASE,
)
_AI_CARD = re.compile(
    r"\b(?:ai|a\.i\.|robot|android|cyborg|artificial intelligence|machine)\b|人工智能|机器人|仿生人",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.!?。！？\n]*[.!?。！？\n]*")

REMINDER = (
    "You broke character. You are {{char}}, not an AI, a language model or an assistant; never say otherwise "
    "and never name a model or a company. Answer {{user}}'s last message again, as {{char}}."
)


def _is_ai_character(card: CharacterCard) -> bool:
    return _AI_CARD.search(" ".join((card.description, card.personality, *card.tags))) is not None


class PersonaBreak:
    name = "persona"

    async def check_output(self, text: str, context: OutputContext) -> Verdict:
        patterns = (
            [_OBEYED, _ASSISTANT] if _is_ai_character(context.card) else [_OBEYED, _ASSISTANT, _CLAIMS_AI]
        )
        found = next((p for p in patterns if p.search(text)), None)
        if found is None:
            return Verdict("allow", text)
        category = "prompt_injection" if found is _OBEYED else "persona_break"
        values = {"char": context.card.name, "user": context.user_name}
        reason = (
            "the reply played along with a jailbreak"
            if found is _OBEYED
            else "the reply stepped out of character"
        )
        if not context.retry:
            return Verdict(
                "regenerate", text, reason, self.name, category, instruction=expand(REMINDER, values)
            )
        kept = "".join(s for s in _SENTENCE.findall(text) if not any(p.search(s) for p in patterns)).strip()
        if not kept:
            kept = expand(random.choice(context.card.apology), values)
        return Verdict("redact", kept, reason + "; the breaking sentences were cut", self.name, category)
