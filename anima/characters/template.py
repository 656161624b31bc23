"""The commented card `anima card new NAME` writes: every field, with its Character Card V2/V3 name."""

from __future__ import annotations

import json

CARD_TEMPLATE = """\
# {name}: a character card. Every field is described in docs/cards-and-lorebooks.md;
# V2/V3 names are given where Character Card V2/V3 (SillyTavern, chub.ai…) has the same field.
# Macros work in every text: {{{{char}}}} {{{{user}}}} {{{{date}}}} {{{{time}}}} {{{{weekday}}}}
# {{{{idle_duration}}}} {{{{random:a,b,c}}}} and the V2 spellings <BOT> <USER>.
name: {quoted}                        # V2 name
description: >-                        # V2 description: who {{{{char}}}} is (required)
  {{{{char}}}} is …
personality: ""                        # V2 personality
scenario: ""                           # V2 scenario
rules:                                 # Anima: never dropped from the prompt
  - Speak as {{{{char}}}}, in the first person.
greeting:                              # V2 first_mes, then alternate_greetings
  - "Hello, {{{{user}}}}!"
example_dialogue:                      # V2 mes_example, one exchange per <START> block
  - user: How are you?
    char: Better now that you are here.
post_history_instructions: ""          # V2: a last instruction after the conversation
tags: []                               # V2 tags
creator: ""                            # V2 creator
character_version: "1.0"               # V2 character_version
creator_notes: ""                      # V2: for people reading the card, never sent to the model
lorebook:                              # V2 character_book: world info
  scan_depth: 2                        # how many of the newest messages are scanned for keys
  token_budget: 400                    # most tokens the entries may take
  recursive_scanning: false            # entries' text may trigger other entries
  entries:
    - keys: [example-keyword]          # plain words; or regexes with use_regex: true or /pattern/i
      content: What {{{{char}}}} knows when someone says the keyword.
      position: before_char            # before_char | after_char | at_depth (with depth: N)
      insertion_order: 100             # lower goes higher in the prompt
# system_prompt: replaces the built-in prompt; may use {{{{description}}}} {{{{personality}}}}
#   {{{{scenario}}}} {{{{rules}}}} (those it leaves out are added after it)
# lorebooks: [lorebooks/world.yaml]   # shared lorebook files, relative to this card
# llm: {{temperature: 0.8}}            # per-card model settings; voice:, safety: likewise
# growth: {{mode: propose}}            # learn from conversations, each change approved by you
"""


def card_template(name: str) -> str:
    return CARD_TEMPLATE.format(name=name, quoted=json.dumps(name, ensure_ascii=False))
