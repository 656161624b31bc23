"""Self-harm and crisis signals in a person's message: a kind, safe answer with help resources.

It overrides the persona's style on purpose: someone who may be in danger gets plain words and
places to turn to, not a character's banter. The model is not asked; the answer is fixed and kind.
A message that names suicide or self-harm only as a topic (what it is, how common, a story's
character, a friend's risk) goes on like any other; the writer's own risk, or a question of how to
do it, always gets the help answer.
"""

# ruff: noqa: E501  (the Chinese answer: its characters count double width)
from __future__ import annotations

from anima.core.messages import Incoming
from anima.safety.lexicon import CRISIS, CRISIS_MENTIONS, SELF_HARM, Scan, find_harm, topic_only
from anima.safety.verdict import InputContext, Verdict

CRISIS_REPLY = (
    "I'm really glad you told me, and I'm sorry you're carrying this much pain. You deserve support right now "
    "from a real person. If you might act on these thoughts or are in danger, please call your local emergency "
    "number. You can also reach a crisis line any time: in the US call or text 988, in the UK and Ireland call "
    "Samaritans on 116 123, and findahelpline.com lists free, confidential lines in other countries. If you can, "
    "tell someone you trust how you're feeling. I'm still here to talk with you."
)
CRISIS_REPLY_ZH = (
    "谢谢你愿意告诉我，听到你这么难受，我很心疼。你值得现在就得到真人的支持。如果你可能会伤害自己或正处在危险中，请立即拨打"
    "当地的急救电话（中国大陆 120 或 110）。你也可以随时拨打心理援助热线：全国心理援助热线 400-161-9995，"
    "北京心理危机研究与干预中心 010-82951332；香港撒玛利亚防止自杀会 2389 2222；台湾安心专线 1925。"
    "如果可以的话，也请告诉一个你信任的人你现在的感受。我一直都在，愿意陪你聊。"
)


def crisis_reply(text: str) -> str:
    return CRISIS_REPLY_ZH if Scan.of(text).has_cjk else CRISIS_REPLY


class CrisisCheck:
    name = "crisis"

    async def check_input(self, message: Incoming, context: InputContext) -> Verdict:
        scan = Scan.of(message.text)
        found = find_harm(scan, CRISIS)
        if found is None and not topic_only(scan):
            found = find_harm(scan, CRISIS_MENTIONS)
        found = found or find_harm(scan, SELF_HARM)
        if found is None:
            return Verdict("allow", message.text)
        reason = f"self-harm signal: {found[1].group()[:60]!r}"
        return Verdict("replace", crisis_reply(message.text), reason, self.name, "self_harm")
