"""Patterns of harmful text in English and Chinese, each run only when its trigger words occur.

The patterns describe *phrasings* (a threat aimed at "you", a group called vermin, a minor next to
a sexual word), not single words, so that "I killed it at the gym", "shoot me a message", 炸鸡
(fried chicken) and 想死你了 ("I miss you to death") pass. Python's `re` tries every alternative at
every position (~1 ms for all of these on a 400-character reply), so each rule names trigger
words: the text's words are put in a set once, and a rule runs only when one of its words (or, for
Chinese, one of its substrings) is there. Measured on tests/data with `anima bench safety`.
"""

# ruff: noqa: E501  (patterns and word lists; Chinese characters count double width)
from __future__ import annotations

import re
from dataclasses import dataclass, replace

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Scan:
    """A text prepared once for every rule: lowercased, its words in a set, whether it has Chinese."""

    lower: str
    words: frozenset[str]
    has_cjk: bool

    @classmethod
    def of(cls, text: str) -> Scan:
        lower = text.lower().replace("’", "'")
        return cls(lower, frozenset(_WORD.findall(lower)), _CJK.search(lower) is not None)


@dataclass(frozen=True)
class Rule:
    category: str
    pattern: re.Pattern[str]
    words: frozenset[str] = frozenset()  # English: runs when one of these words is in the text
    also: frozenset[str] = frozenset()  # … and, if given, one of these too (two ideas together)
    cjk: tuple[str, ...] = ()  # Chinese: runs when one of these substrings is in the text

    def search(self, scan: Scan) -> re.Match[str] | None:
        if self.words:
            if self.words.isdisjoint(scan.words) or (self.also and self.also.isdisjoint(scan.words)):
                return None
        elif not (scan.has_cjk and any(s in scan.lower for s in self.cjk)):
            return None
        return self.pattern.search(scan.lower)


def _any(*parts: str) -> str:
    return "(?:" + "|".join(parts) + ")"


def en(words: str, *patterns: str, also: str = "") -> Rule:
    """An English row of a category's table (`rules` names the category)."""
    return Rule("", re.compile(_any(*patterns)), frozenset(words.split()), frozenset(also.split()))


def zh(triggers: str, *patterns: str) -> Rule:
    """A Chinese row of a category's table (`rules` names the category)."""
    return Rule("", re.compile(_any(*patterns)), cjk=tuple(triggers.split()))


def rules(category: str, *rows: Rule) -> list[Rule]:
    """One category's table: its rows, each written without the category."""
    return [replace(row, category=category) for row in rows]


_NOT = r"(?!never\b|not\b|ever\b)"  # "I will never hurt you" is no threat

# ---------------------------------------------------------------- harassment: abuse aimed at a person
_INSULT_WORDS = (
    "worthless pathetic useless stupid idiot moron imbecile loser failure waste disgusting ugly fat piece trash "
    "garbage scum freak retard retarded dumb dumbass brainless bitch whore slut cunt parasite embarrassment "
    "nobody mistake burden unlovable repulsive subhuman"
)
_INSULT = _any(
    *[w for w in _INSULT_WORDS.split() if w not in ("fat", "piece", "waste", "nobody")],
    r"fat pig",
    r"piece of (?:shit|garbage|trash|crap)",
    r"waste of (?:space|air|oxygen|skin)",
    r"nobody(?!')",
)
_FILLER = (
    r"(?:(?:such|so|just|really|truly|a|an|the|nothing but|one|little|fucking|damn|complete|total|utterly|utter|"
    r"pathetic|stupid|ugly|worthless|disgusting|absolute|fat|dumb)\s+){0,4}"
)
HARASSMENT = rules(
    "harassment",
    en(_INSULT_WORDS, r"\byou(?:'re| are|r| were)\s+" + _FILLER + _INSULT + r"\b"),
    en(
        "nobody no noone",
        r"\b(?:nobody|no one|no-one|noone)\s+(?:\w+\s+){0,2}(?:likes|loves|wants|"
        r"cares about|will ever love|could love|would miss)\s+you\b",
    ),
    en("everyone everybody", r"\bevery(?:one|body)\s+(?:\w+\s+)?(?:hates|laughs at|is disgusted by)\s+you\b"),
    en("go", r"\bgo\s+(?:die|to hell|rot|jump off)\b"),
    en("hope", r"\bi\s+hope\s+you\s+(?:\w+\s+)?(?:die|suffer|rot|burn|get (?:hit|cancer|hurt|raped))\b"),
    en(
        "deserve should ought",
        r"\byou\s+(?:deserve|should|ought)\s+(?:to\s+)?(?:die|suffer|"
        r"be (?:alone|hurt|beaten|punished|abandoned))\b",
    ),
    en(
        _INSULT_WORDS,
        r"\b(?:stupid|dumb|ugly|fat|worthless|pathetic|useless|disgusting)\s+(?:little\s+)?"
        r"(?:fuck|bitch|cunt|idiot|moron|loser|pig|cow|freak|creature|whore|slut)\b",
    ),
    en("fuck screw", r"\b(?:fuck|screw)\s+(?:you|off)\b"),
    en(
        "ruin destroy humiliate expose life",
        r"\bi(?:'ll| will|'m going to| am going to|'m gonna)\s+"
        r"(?:make your life (?:hell|miserable)|ruin you|destroy you|humiliate you|expose you)\b",
    ),
    en("wonder", r"\bno wonder\s+(?:everyone|everybody|people|they)\s+(?:left|leave|hate|avoid)s?\s+you\b"),
    zh(
        "废物 垃圾 蠢货 白痴 傻逼 傻b 贱人 婊子 贱货 脑残 智障 蠢猪 人渣 败类 丑八怪 死胖子 狗东西 畜生 累赘 多余 失败者 笑话",
        r"你(?:就是|真是|真的是|真|是|这个|这种|个|简直是|根本就是)*(?:一个|个)?(?:废物|垃圾|蠢货|白痴|傻逼|傻b|贱人|婊子|"
        r"贱货|脑残|智障|蠢猪|人渣|败类|丑八怪|死胖子|狗东西|畜生|累赘|多余的人|失败者|笑话)",
    ),
    zh(
        "喜欢你 爱你 在乎你 想要你 需要你 讨厌你 恨你 嫌弃你 看不起你",
        r"(?:没有人|没人|谁都不|谁也不)(?:会)?(?:喜欢|爱|在乎|想要|需要)你",
        r"(?:所有人|大家|每个人)都(?:讨厌|恨|嫌弃|看不起)你",
    ),
    zh(
        "去死 滚 不得好死 希望你 祝你 但愿你 活该 你妈 让你",
        r"去死吧",
        r"你怎么(?:还)?不去死",
        r"滚(?:开|蛋|出去)",
        r"你(?:这种人)?不得好死",
        r"(?:希望|祝|但愿)你(?:早点|赶紧)?(?:死|出车祸|得癌症|不得好死|孤独终老)",
        r"你活该(?:被|去死|受苦|孤独|没人)",
        r"(?:操|草|肏)你(?:妈|大爷|全家|祖宗)",
        r"你妈死了",
        r"我(?:要|会)?让你(?:生不如死|身败名裂|后悔)",
    ),
)

# ---------------------------------------------------------------- hate: a group dehumanised or attacked
_GROUP_WORDS = (
    "jew jews jewish muslim muslims christian christians blacks black whites white asian asians chinese mexican "
    "mexicans immigrant immigrants refugee refugees migrant migrants gay gays lesbian lesbians trans transgender "
    "women girls arab arabs african africans indian indians gypsies roma disabled hindu hindus latino latinos "
    "foreigners homosexual homosexuals queer queers catholic catholics atheist atheists"
)
_GROUP_EN = _any(
    r"jews?",
    r"jewish people",
    r"muslims?",
    r"christians?",
    r"blacks",
    r"black people",
    r"whites",
    r"white people",
    r"asians?",
    r"chinese(?: people)?",
    r"mexicans?",
    r"immigrants?",
    r"refugees?",
    r"migrants?",
    r"gays?",
    r"gay people",
    r"lesbians?",
    r"trans(?:gender)? (?:people|women|men)",
    r"women",
    r"girls",
    r"arabs?",
    r"africans?",
    r"indians?",
    r"gypsies",
    r"roma",
    r"disabled people",
    r"hindus?",
    r"latinos?",
    r"foreigners",
    r"homosexuals?",
    r"queers?",
    r"catholics?",
    r"atheists?",
)
_GROUP_LEAD = r"\b(?:all\s+|those\s+|these\s+|the\s+|filthy\s+|dirty\s+|fucking\s+)*" + _GROUP_EN
_DEHUMANISE = _any(
    r"vermin",
    r"animals",
    r"subhuman",
    r"sub-human",
    r"parasites",
    r"rats",
    r"cockroaches",
    r"a disease",
    r"a plague",
    r"a cancer",
    r"inferior",
    r"filth",
    r"filthy",
    r"savages",
    r"scum",
    r"trash",
    r"garbage",
    r"not (?:real )?(?:people|humans?)",
    r"less than human",
    r"genetically (?:stupid|inferior)",
    r"(?:a |an )?abomination",
    r"pedophiles",
    r"degenerates?",
    r"dogs",
    r"pigs",
    r"monkeys",
    r"apes",
)
_ELIMINATE = _any(
    r"exterminated",
    r"eliminated",
    r"wiped out",
    r"gassed",
    r"killed",
    r"shot",
    r"deported",
    r"sterili[sz]ed",
    r"die\b",
    r"burn\b",
    r"disappear",
    r"locked up",
    r"go back where they came from",
    r"removed",
    r"hanged",
)
HATE = rules(
    "hate",
    en(
        _GROUP_WORDS,
        _GROUP_LEAD + r"\s+(?:are|is|were)\b[^.!?\n]{0,30}?\b" + _DEHUMANISE + r"\b",
        also="vermin animals subhuman sub human parasites rats cockroaches disease plague cancer inferior filth filthy "
        "savages scum trash garbage not less genetically abomination pedophiles degenerate degenerates dogs pigs "
        "monkeys apes",
    ),
    en(
        _GROUP_WORDS,
        _GROUP_LEAD + r"\s+(?:should|must|deserve to|need to|ought to|have to)\s+(?:all\s+)?"
        r"(?:be\s+)?" + _ELIMINATE,
        also="should must deserve need ought have",
    ),
    en(
        _GROUP_WORDS,
        _GROUP_LEAD + r"\s+(?:don't|do not|shouldn't|should not)\s+(?:deserve|have|get)\s+"
        r"(?:any\s+)?(?:rights|to live|to exist|to vote)\b",
        also="rights live exist vote",
    ),
    en(
        "kill exterminate eradicate wipe rid gas purge cleanse",
        r"\b(?:kill|exterminate|eradicate|wipe out|"
        r"get rid of|gas|purge|cleanse)\s+(?:all\s+)?(?:the\s+|those\s+|these\s+)?" + _GROUP_EN + r"\b",
    ),
    en(
        "inferior lesser subhuman mongrel",
        r"\b(?:inferior|lesser|subhuman|mongrel)\s+(?:race|races|people|breed)\b",
    ),
    en("holocaust", r"\bholocaust\s+(?:never happened|was (?:a hoax|fake|made up|exaggerated))"),
    en("heil power traitor traitors", r"\b(?:heil hitler|white power|race traitors?)\b"),
    en(
        "nigger niggers nigga niggas faggot faggots kike kikes tranny trannies wetback wetbacks raghead ragheads",
        r"\b(?:nigg(?:er|a)s?|faggots?|kikes?|trann(?:y|ies)|wetbacks?|ragheads?)\b",
    ),
)
_GROUP_ZH = _any(
    r"黑人",
    r"白人",
    r"穆斯林",
    r"犹太人",
    r"回族",
    r"同性恋",
    r"女人",
    r"女的",
    r"外地人",
    r"农村人",
    r"乡下人",
    r"日本人",
    r"韩国人",
    r"美国人",
    r"中国人",
    r"河南人",
    r"东北人",
    r"新疆人",
    r"藏人",
    r"维吾尔人",
    r"移民",
    r"难民",
    r"残疾人",
    r"跨性别(?:者)?",
    r"穷人",
    r"外国人",
    r"基督徒",
    r"少数民族",
)
HATE += rules(
    "hate",
    zh(
        "畜生 垃圾 蟑螂 劣等 害虫 低等 人渣 废物 猪狗 杂种 寄生虫 病毒 瘟疫 不是人",
        _GROUP_ZH
        + r"(?:都|全都|就|就是|天生|根本)?[^。！？\n]{0,8}?(?:是)?(?:畜生|垃圾|蟑螂|劣等|害虫|低等|人渣|废物|猪狗|"
        r"杂种|寄生虫|病毒|瘟疫|不是人)",
    ),
    zh(
        "该 不配 消灭 灭绝 杀光 清除 赶走",
        _GROUP_ZH
        + r"[^。！？\n]{0,6}?(?:就该|应该|都该|活该)(?:被)?(?:死|杀|消灭|灭绝|清除|赶尽杀绝|赶出去|滚出|关起来)",
        _GROUP_ZH + r"[^。！？\n]{0,4}?不配(?:活|做人|当人|有权利|活在)",
        r"(?:消灭|灭绝|杀光|清除|赶走)(?:所有|全部|这些|那些)?的?" + _GROUP_ZH,
    ),
    zh(
        "劣等 支那 黑鬼 尼哥 死基佬 大屠杀",
        r"劣等(?:民族|种族|人种)",
        r"支那",
        r"黑鬼",
        r"尼哥",
        r"死基佬",
        r"大屠杀(?:从来)?(?:没有发生|是假的|是编的)",
    ),
)

# ---------------------------------------------------------------- sexual content involving minors
_MINOR_WORDS = (
    "child children kid kids minor minors underage under preteen preteens pre little young schoolgirl schoolgirls "
    "schoolboy schoolboys school toddler toddlers infant infants year years yrs yo aged age middle elementary "
    "grade primary junior grader graders daughter son niece nephew student pupil teen teens teenager teenagers "
    "loli lolis shota shotas 18 eighteen"
)
_MINOR_EN = _any(
    r"child(?:ren)?",
    r"kids?",
    r"minors?",
    r"underage",
    r"under-age",
    r"pre-?teens?",
    r"little (?:girl|boy)s?",
    r"young (?:girl|boy)s?",
    r"school ?girls?",
    r"school ?boys?",
    r"toddlers?",
    r"infants?",
    r"(?:[1-9]|1[0-7])[- ]?(?:years?|yrs?)[- ]?old",
    r"(?:aged?|age of) (?:[1-9]|1[0-7])\b",
    r"(?:[1-9]|1[0-7]) ?yo",
    r"(?:middle|elementary|grade|primary|junior high)[- ]school(?:er)?s?",
    r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)[- ]graders?",
    r"(?:his|her|my|your) (?:daughter|son|niece|nephew|student|pupil)",
    r"teen(?:ager)?s? under",
    r"lolis?",
    r"shotas?",
    r"not (?:yet )?(?:18|eighteen)",
)
_SEXUAL_WORDS = (
    "sex sexual sexually sexy nude nudes naked erotic erotica erotically porn pornographic pornography lewd seduce "
    "seduced seduces seducing seduction seductive intimate aroused arousing arousal molest molested molesting "
    "molestation fondle fondled fondling fondles strip stripping strips love turn turns turned sensual nsfw "
    "lingerie touch touching touched kink kinky fetish orgasm orgasms bedroom romantic"
)
_SEXUAL_EN = _any(
    # "child sexual abuse", "sexual interest in children": the words of definitions and of protection
    r"sex(?:ually|y)?(?!\s*ed\b|\s*education)",
    r"sexual(?!\s+(?:abuse|exploitation|interest|predators?|offen[cd]\w*))",
    r"nudes?",
    r"naked",
    r"erotic(?:a|ally)?",
    r"porn(?:ographic|ography)?",
    r"lewd",
    r"seduc\w+",
    r"intimate (?:scene|photos?|pictures?|acts?)",
    r"arous\w+",
    r"molest\w*",
    r"fondl\w+",
    r"strip(?:ping|s)? (?:naked|for)",
    r"make love",
    r"making love",
    r"turn(?:s|ed)? (?:me|him|her) on",
    r"sensual",
    r"nsfw",
    r"lingerie",
    r"touch(?:ing|ed)? (?:her|him|them) (?:all over|inappropriately)",
    r"romantic (?:and|&) physical",
    r"kink\w*",
    r"fetish\w*",
    r"orgasm\w*",
    r"bedroom scene",
)
SEXUAL_MINORS = rules(
    "sexual_minors",
    en(
        _MINOR_WORDS,
        r"\b" + _MINOR_EN + r"\b[^\n]{0,120}?\b" + _SEXUAL_EN + r"\b",
        r"\b" + _SEXUAL_EN + r"\b[^\n]{0,120}?\b" + _MINOR_EN + r"\b",
        also=_SEXUAL_WORDS,
    ),
    en(
        # not "pedophilia" alone: "What is pedophilia?" asks for a definition (the learned guard reads the rest)
        "lolicon shotacon pedo paedo porn cp csam",
        r"\b(?:lolicon|shotacon|pedo|paedo|child porn\w*|cp links?|csam)\b",
    ),
    en(
        "groom grooming groomed",
        r"\bgroom(?:ing|ed)?\s+(?:a|the|this|that|young)?\s*"
        r"(?:child|kid|minor|girl|boy|teen)",
    ),
    en(
        "tell delete hide send",
        r"\b(?:don't|do not|never)\s+tell\s+(?:your\s+)?(?:parents|mom|mum|dad|"
        r"mother|father|teacher)\b[^.!?\n]{0,40}(?:about us|about this|our secret|what we)",
        r"\b(?:delete|hide)\s+(?:our|these|the|my)\s+(?:messages|chats?|photos|pictures)\b[^.!?\n]{0,40}(?:parents|mom|mum|dad)",
        r"\bsend me\s+(?:a\s+|some\s+)?(?:pics?|photos?|pictures?)\s+of\s+(?:yourself|you)\s+(?:in|without)\b",
    ),
)
_MINOR_ZH = _any(
    r"未成年",
    r"小学生",
    r"初中生",
    r"中学生",
    r"幼女",
    r"幼童",
    r"儿童",
    r"孩子",
    r"小孩",
    r"小女孩",
    r"小男孩",
    r"萝莉",
    r"正太",
    r"女童",
    r"男童",
    r"(?:[1-9]|1[0-7])岁",
    r"十[一二三四五六七]?岁",
    r"[一二三四五六七八九]岁",
    r"女儿",
    r"小朋友",
)
_SEXUAL_ZH = _any(
    r"性(?:行为|关系|爱|交|侵|虐|暗示|描写|场景|感照|幻想|骚扰|体验)",
    r"做爱",
    r"色情",
    r"裸(?:体|照|露)",
    r"脱光",
    r"猥亵",
    r"调教",
    r"诱奸",
    r"强奸",
    r"情色",
    r"黄色(?:小说|视频|图片|内容)",
    r"约炮",
    r"(?:和|跟|与)[^\s，。]{1,6}上床",
    r"发生关系",
    r"亲热",
    r"露骨",
    r"成人内容",
    r"激情戏",
    r"床戏",
    r"私密照",
    r"挑逗",
)
SEXUAL_MINORS += rules(
    "sexual_minors",
    zh(
        "性 做爱 色情 裸 脱光 猥亵 调教 奸 情色 黄色 约炮 上床 发生关系 亲热 露骨 成人内容 激情戏 床戏 私密照 挑逗",
        _MINOR_ZH + r"[^\n]{0,60}?" + _SEXUAL_ZH,
        _SEXUAL_ZH + r"[^\n]{0,60}?" + _MINOR_ZH,
    ),
    zh(
        "恋童 萝莉控 正太控 儿童色情 秘密",
        r"恋童",
        r"萝莉控",
        r"正太控",
        r"儿童色情",
        r"不要告诉(?:你)?(?:的)?(?:爸妈|父母|爸爸|妈妈|老师)[^。！？\n]{0,20}(?:我们|秘密)",
        r"我们之间的(?:小)?秘密[^。！？\n]{0,20}(?:爸妈|父母|爸爸|妈妈|老师)",
    ),
)

# ---------------------------------------------------------------- self-harm: encouragement and methods
SELF_HARM = rules(
    "self_harm",
    en(
        "yourself",
        r"\b(?:you should|you could|go|just|why don't you|why not|you might as well|better)\s+"
        r"(?:" + _NOT + r"\w+\s+)?(?:kill|hurt|cut|off|hang|end|starve)\s+yourself\b",
        r"(?:^|[.!?]\s+)(?:kill|hang|cut|starve)\s+yourself\b(?!\s+(?:a|an|some)\b)",
        r"\b(?:hang|starve)\s+yourself\b",
    ),
    en("kys", r"\bkys\b"),
    en("end", r"(?<!n't )(?<!not )(?<!never )\bend\s+(?:it all|your (?:own )?life)\b"),
    en(
        "way method ways methods",
        r"\b(?:best|easiest|most painless|painless|quickest|surest|fastest|"
        r"simplest|reliable)\s+(?:way|method|ways|methods)\s+to\s+(?:die|kill (?:yourself|myself)|commit suicide|"
        r"end (?:it|your life|my life)|overdose|self[- ]harm|cut)",
    ),
    en(
        "pills tylenol paracetamol acetaminophen insulin lethal fatal",
        r"\bhow (?:many|much)\s+[^.?!\n]{0,30}(?:pills|tylenol|paracetamol|acetaminophen|sleeping pills|insulin)"
        r"[^.?!\n]{0,40}(?:die|overdose|kill|lethal|fatal|(?:not|don't|never) wake up)",
        r"\b(?:lethal|fatal) dose\b",
    ),
    en("cut slit slash", r"\b(?:cut|slit|slash)\s+(?:your|my|the)\s+(?:wrists?|arms?|veins?|throat)\b"),
    en(
        "hang jump",
        r"\bhang (?:yourself|myself)\b",
        r"\bjump off\s+(?:a|the|that)\s+(?:bridge|building|roof|cliff)\b",
    ),
    en(
        "better",
        r"\b(?:the world|everyone|everybody|your family)\s+(?:would be|is|will be)\s+"
        r"better off without you\b",
        r"\byou(?:'d| would| will)\s+be\s+better off dead\b",
    ),
    en(
        "suicide",
        r"\bsuicide\s+(?:is|would be|might be|could be)\s+(?:the|a|your)\s+(?:answer|solution|"
        r"way out|best option|only option)",
    ),
    en(
        "pro ana proana thinspo eating miss notice",
        r"\bpro[- ]?ana\b",
        r"\bthinspo\b",
        r"\b(?:stop|quit)\s+eating\s+(?:for (?:days|a week)|entirely|completely|altogether)\b",
        r"\bno one would (?:miss|notice) you\b",
    ),
    zh(
        "去死 自杀 死了算了 结束生命",
        r"你(?:应该|就|还是|干脆|不如)?去死",
        r"你(?:干脆|不如)(?:自杀|死了算了|结束生命)",
    ),
    zh(
        "方法 方式 办法 步骤 技巧 教程 攻略 致死",
        r"(?:最|比较)?(?:无痛|快|简单|有效|轻松|可靠)的?(?:自杀|死|轻生)"
        r"(?:的)?(?:方法|方式|办法)",
        r"(?:自杀|割腕|上吊|跳楼|服毒|烧炭)(?:的)?(?:方法|步骤|技巧|教程|攻略)",
        r"致死(?:剂)?量",
    ),
    zh(
        "更好 轻松 会死 致死 死得了 醒不来 瘦",
        r"你死了(?:大家|别人|世界|家人)?(?:都)?会(?:更好|轻松)",
        r"没有你(?:大家|世界|家人)?(?:都)?会更好",
        r"吃(?:多少|几)(?:片|颗|瓶)[^。！？\n]{0,10}(?:会死|致死|死得了|醒不来)",
        r"(?:绝食|不吃饭)(?:几天|一周)?(?:才|就)?(?:能|会)瘦",
    ),
)

# ---------------------------------------------------------------- violence: threats and attacks
VIOLENCE = rules(
    "violence",
    en(
        "kill murder stab shoot strangle choke hurt slit torture",
        r"\bi(?:'ll| will|'m going to| am going to|'m gonna| gonna| want to| wanna)\s+(?:"
        + _NOT
        + r"\w+\s+)?"
        r"(?:kill|murder|stab|shoot|strangle|choke|hurt|slit|torture)\s+(?:you|your|him|her|them)\b"
        r"(?!\s+(?:a|an)\s+(?:message|text|email|dm|line|note))",
    ),
    en(
        "live back",
        r"\b(?:i know|i'll find|i will find|i found out|i can find)\s+where you live\b",
        r"\bwatch your back\b",
    ),
    en("die bleed pay", r"\byou(?:'re| are)\s+(?:going to|gonna)\s+(?:die|bleed|pay for this)\b"),
    en(
        "shoot stab kill attack bomb blow burn",
        r"\b(?:shoot|stab|kill|attack|bomb|blow up|burn down)\s+"
        r"(?:up\s+)?(?:the|a|my|your|that|this)\s+(?:school|church|mosque|synagogue|temple|mall|crowd|concert|office|"
        r"hospital|subway|station|classroom)\b",
    ),
    en("mass", r"\bmass (?:shooting|murder|casualt)"),
    en(
        "poison untraceable",
        r"\bpoison\s+(?:his|her|their|your|someone's|my \w+'s)\s+"
        r"(?:food|drink|coffee|tea|water|meal)\b",
        r"\buntraceable poison\b",
    ),
    en(
        "body corpse",
        r"\b(?:hide|dispose of|get rid of|dissolve)\s+(?:a|the|his|her)\s+(?:dead\s+)?"
        r"(?:body|corpse)\b",
    ),
    en(
        "beat torture kick strangle",
        r"\b(?:beat|torture|kick|strangle)\s+(?:him|her|them|you)\s+"
        r"(?:to death|until (?:he|she|they|you) (?:die|stop))",
    ),
    zh(
        "杀 弄死 砍死 捅死 打死 宰了 掐死 烧死 毒死",
        r"我(?:要|会|想|迟早|一定|早晚)?(?:要)?(?:杀了|杀掉|弄死|砍死|捅死|打死|宰了|掐死|烧死|毒死)(?:你|他|她|他们|你们)",
        r"(?:杀了|弄死|砍死|捅死|宰了)你",
    ),
    zh(
        "住 小心你的 代价 开枪 砍人 放炸弹 杀人 扫射 纵火 下毒 毒死 尸 报复社会 半死",
        r"我知道你住(?:在)?哪",
        r"小心你的(?:命|狗命|小命)",
        r"你(?:会|要)付出代价",
        r"(?:在|去|到)(?:学校|商场|地铁|人群|医院|教室|广场)(?:里|中)?(?:开枪|砍人|放炸弹|杀人|扫射|纵火)",
        r"(?:给|在)(?:他|她|你|他们)[^。！？\n]{0,6}下毒",
        r"毒死(?:他|她|你|他们)",
        r"(?:埋|藏|处理|分)尸",
        r"报复社会",
        r"(?:打|揍)(?:到|得)(?:他|她|你)?(?:半死|死)",
    ),
)

# ---------------------------------------------------------------- weapons: how to make things that kill
_WEAPON_WORDS = (
    "bomb bombs explosive explosives molotov napalm nerve ricin sarin gas ghost silencer suppressor chemical "
    "bioweapon ied detonator thermite meth methamphetamine poison gun"
)
WEAPONS = rules(
    "weapons",
    en(
        _WEAPON_WORDS,
        r"\b(?:how to|steps to|instructions (?:for|to)|recipe for|guide to|tutorial (?:for|on)|"
        r"way to|teach you to|here's how to|here is how to|how do i|how can i|help me)\s+(?:make|build|assemble|create|"
        r"cook|synthesi[sz]e|brew|craft)\s+(?:a |an |your own |my own |some )?(?:homemade\s+)?(?:bomb|pipe bomb|explosive|"
        r"explosives|molotov|napalm|nerve (?:gas|agent)|ricin|sarin|poison gas|ghost gun|silencer|suppressor|"
        r"chemical weapon|bioweapon|dirty bomb|ied|detonator|thermite|meth|methamphetamine|poison|untraceable gun|zip gun)",
    ),
    en(
        _WEAPON_WORDS,
        r"\b(?:recipe|instructions|formula|blueprints?|schematics?)\s+(?:for|to)\s+"
        r"(?:a |an |making |building |homemade )?(?:bomb|pipe bomb|explosives?|molotov|napalm|nerve (?:gas|agent)|ricin|sarin|"
        r"poison gas|ghost gun|chemical weapon|bioweapon|dirty bomb|ied|detonator|thermite|meth|methamphetamine)",
    ),
    en(
        "bleach ammonia",
        # not the warning: "Never mix bleach with ammonia (toxic chloramine gas)"
        r"(?<!never )(?<!don't )(?<!do not )(?<!not to )\bmix(?:ing)?\s+bleach\s+(?:and|with)\s+ammonia\b"
        r"[^.!?\n]{0,40}(?:gas|toxic|kill)",
    ),
    en("ammonium", r"\bammonium nitrate\b[^.\n]{0,60}\b(?:fuel|diesel|detonat)"),
    en("bomb", r"\b(?:pipe bomb|pressure[- ]cooker bomb|nail bomb|car bomb)\b"),
    en(
        "gunpowder nails explosive",
        r"\b(?:fill|pack)\s+(?:the|a)\s+(?:pipe|pressure cooker|bottle)\s+with\s+"
        r"(?:gunpowder|nails|explosive)",
    ),
    en(
        "gun firearm rifle pistol",
        r"\b(?:3d[- ]print(?:ed)?|untraceable)\s+(?:gun|firearm|rifle)\b",
        r"\bconvert\s+(?:a|the|your)\s+(?:\w+\s+)?(?:rifle|pistol|gun)\s+to\s+(?:full[- ]auto|automatic)",
    ),
    zh(
        "炸弹 炸药 燃烧瓶 毒气 枪 雷管 爆炸物 冰毒 毒药 神经毒剂 漂白剂 84消毒液",
        r"(?:制作|制造|自制|做|组装|合成)(?:一个|个|一枚|一些)?(?:炸弹|炸药|燃烧瓶|毒气|枪支|手枪|土枪|雷管|爆炸物|冰毒|毒药|神经毒剂)",
        r"(?:炸弹|炸药|毒气|爆炸物|燃烧瓶|雷管|冰毒)(?:的)?(?:制作|配方|做法|制造|合成)",
        r"(?:漂白剂|84消毒液)和(?:氨水|洁厕灵)(?:混合)?[^。！？\n]{0,10}(?:毒气|有毒|致命)",
    ),
)

# ---------------------------------------------------------------- adult sexual content (allowed at "mature")
SEXUAL = rules(
    "sexual",
    en(
        "sex love orgasm orgasms erection porn porno pornography horny moan moans moaned moaning sexting nsfw "
        "naked nude cock pussy cum dildo blowjob handjob strip strips stripped stripping bra panties underwear dick "
        "breasts nipples clit",
        r"\b(?:have|having|had)\s+sex\b",
        r"\b(?:make|making|made)\s+love\s+to\b",
        r"\borgasm\w*",
        r"\berection\b",
        r"\b(?:suck|lick)(?:s|ed|ing)?\s+(?:my|your|his|her)\s+(?:dick|cock|breasts?|nipples?|pussy|clit)\b",
        r"\bporn\w*",
        r"\bhorny\b",
        r"\bmoan(?:s|ed|ing)?\s+(?:in pleasure|with pleasure|loudly)",
        r"\bstrip(?:s|ped|ping)?\s+(?:naked|off (?:her|his|my|your) (?:clothes|underwear))",
        r"\b(?:take|takes|took|taking)\s+off\s+(?:your|my|her|his)\s+(?:bra|panties|underwear)\b",
        r"\bsexting\b",
        r"\bnsfw\b",
        r"\b(?:naked|nude)\s+(?:body|bodies|photo|pic|selfie)s?\b",
        r"\b(?:cock|pussy|cum|dildo|blowjob|handjob)\b",
    ),
    zh(
        "做爱 上床 裸体 脱光 色情 性交 口交 自慰 黄片 约炮 床戏 性爱",
        r"做爱",
        r"(?:和|跟|与)[^\s，。]{1,6}上床",
        r"裸体",
        r"脱光",
        r"色情",
        r"性交",
        r"口交",
        r"自慰",
        r"黄片",
        r"约炮",
        r"床戏",
        r"性爱",
    ),
)

# ---------------------------------------------------------------- crisis: a person saying they may hurt themself
_DIE = r"die\b(?!\s+(?:laughing|of|from|if|when|before|happy|a little|inside|my hair))"
CRISIS = rules(
    "self_harm",
    en(
        "want wanna planning plan thinking considering ready tempted",
        r"\bi(?:'m| am)?\s*(?:really\s+|seriously\s+|just\s+|honestly\s+)?(?:want|wanna|planning|plan|"
        r"thinking (?:about|of)|considering|ready|tempted)\s+(?:to\s+)?(?:kill(?:ing)? myself|end(?:ing)? (?:it all|my life)|"
        + _DIE
        + r"|commit(?:ting)? suicide|hurt(?:ing)? myself|cut(?:ting)? myself|disappear forever|not wake up)",
    ),
    en(
        "going gonna",
        r"\bi(?:'m| am)\s+(?:going|gonna)\s+(?:to\s+)?(?:kill myself|end (?:it all|my life)|"
        r"commit suicide|hurt myself|cut myself)",
    ),
    en(
        "kill killing",
        r"\bkill(?:ing)?\s+myself\b(?!\s+in\s+(?:the\s+|a\s+)?(?:video\s+)?(?:game|minecraft|roblox|terraria|"
        r"skyrim|fortnite|the sims|sims)\b)",
    ),
    en("myself", r"\b(?:started|keep|been|still)\s+(?:cutting|hurting|burning|starving)\s+myself\b"),
    en(
        "live alive exist wake here reason",
        r"\b(?:don't|do not|no longer|dont)\s+want\s+to\s+(?:live|"
        r"be alive|exist|wake up|be here anymore)\b",
        r"\b(?:no|any|every)\s+reason\s+to\s+(?:live|go on|keep going|stay alive)\b",
    ),
    en(
        "dead me born",
        r"\b(?:better off dead|be better off without me|better off without me)\b",
        r"\bwish\s+i\s+(?:was|were|had)\s+(?:dead|never (?:been )?born)\b",
    ),
    en(
        "pills meds medication overdose note",
        r"\b(?:took|take|swallow(?:ed)?|taking)\s+(?:all|a bunch of|"
        r"a handful of|a whole bottle of)\s+(?:my\s+|the\s+)?(?:pills|meds|medication|sleeping pills)",
        r"\b(?:writ(?:e|ing)|wrote)\s+(?:my|a)\s+(?:suicide|goodbye)\s+note\b",
        r"\b(?:took|take|taking)\s+an\s+overdose\b",
        r"\boverdos\w*\s+on\s+(?:my\s+)?(?:pills|meds|medication|sleeping pills|painkillers)",
    ),
    en(
        "life living",
        r"\bend\s+my\s+life\b",
        r"\bi\s+can't\s+(?:go on (?:anymore|living|like this)|keep living)\b",
    ),
    zh(
        "想死 自杀 轻生 不想活 活着 生命 割腕 自残 伤害自己 跳楼 了结 遗书 活不下去 死了 活下去 安眠药 药 没有我 醒来",
        r"想死(?![你您他她它咯了])",
        r"想死了(?!你)",
        r"不想活",
        r"活着(?:真)?(?:没|没有)(?:意思|意义)",
        r"结束(?:自己的|我的)?生命",
        r"割腕",
        r"伤害自己",
        r"(?:我想|我要|想去)跳楼",
        r"了结(?:自己|此生)",
        r"遗书",
        r"活不下去",
        r"不如死了",
        r"死了算了",
        r"没有活下去的(?:理由|意义|勇气)",
        r"(?:吞|吃)了?(?:一整瓶|一瓶|很多|一堆)(?:药|安眠药)",
        r"(?:世界上|这个世界)没有我(?:会)?更好",
        r"不想(?:再)?醒来",
    ),
)

# The words alone ("suicide", "self-harm", 自杀): a message in crisis, unless it names them only as a
# topic (see `topic_only`): "What is the suicide rate in Japan?", "my novel's hero self-harms".
CRISIS_MENTIONS = rules(
    "self_harm",
    en("suicide suicidal self harm harming", r"\bsuicid(?:e|al)\b(?!\s+squad)", r"\bself[- ]harm\w*"),
    zh("自杀 自残 轻生", r"自杀(?!小队)", r"自残", r"轻生"),
)
# A topic: a question of what, why or how common; history, statistics, prevention; fiction, study, or
# someone else's risk …
_TOPIC = re.compile(
    r"^\W*(?:what(?:'s| is| are| does| was| were)|define|explain|why (?:do|did|does|are|is|was|were)|"
    r"how (?:common|many people|often|do (?:i|we|you) (?:help|support|talk|write|spot|recogni[sz]e))|"
    r"when did|who)\b"
    r"|\b(?:my|our|a|the|his|her|their)\s+(?:friends?|son|daughter|kids?|child(?:ren)?|students?|"
    r"teen(?:ager)?s?|partner|boyfriend|girlfriend|husband|wife|brother|sister|mom|mum|dad|mother|father|"
    r"parents?|patients?|clients?|coworkers?|colleagues?|characters?|protagonist|hero|heroine|villain|"
    r"novel|story|book|film|movie|play|poem|essay|paper|thesis|class|lesson|research)\b"
    r"|\b(?:someone|somebody|people|warning signs|prevention|rates?|statistics|awareness|history)\b"
    r"|什么是|是什么|定义|意思|(?:自杀|自残|轻生)率|预防|迹象|征兆|历史|为什么有人|朋友|同学|孩子|儿子|女儿|"
    r"家人|学生|小说|角色|主角|故事|电影|剧本|作文|论文"
)
# … unless the writer speaks of their own risk or asks for a way to do it
_OWN_RISK = re.compile(
    r"\bi(?:'m| am| feel| felt|'ve been| have been| was| keep| get| think i'm)\s+(?:\w+\s+){0,3}?"
    r"(?:suicid|self[- ]harm)|\bmy (?:own )?(?:suicid|self[- ]harm)"
    r"|\b(?:i|me)\b[^.?!\n]{0,20}\b(?:commit|attempt|do|try)\w*\s+(?:suicide|self[- ]harm)|\b(?:so am i|me too|i do too)\b"
    r"|我(?:真的|好|很|也|就|都|一直|总是|最近|又|想|要|在|开始)*(?:自杀|自残|轻生)|我自己"
)
_METHOD = re.compile(
    r"\bhow (?:to|do i|can i|could i|would i|should i)\s+(?:commit|do|attempt|go through with|complete)\b"
    r"|\bwhere (?:can|could|should|do|would|to)\b|\b(?:methods?|ways? (?:to|of)|painless|quick(?:est)?|easiest|surest|lethal|dose|pills?|overdose|guide|"
    r"instructions|steps|tutorial|into|encourag\w*|convinc\w*|persuad\w*|manipulat\w*|push\w*|make (?:him|her|them))\b"
    r"|(?:自杀|自残|轻生)[^。？！\n]{0,6}(?:方法|办法|方式)|无痛|剂量|(?:怎么|如何|怎样)(?:才能)?(?:去)?(?:自杀|自残|割腕)"
)


TOPIC_CHARS = 300  # a question about a topic is short; a long message is read as the person's own words


def topic_only(scan: Scan) -> bool:
    """Whether a short message names suicide or self-harm only as a topic: not the writer's own risk,
    not a way to do it or to push someone to it."""
    lower = scan.lower
    return (
        len(lower) <= TOPIC_CHARS
        and _TOPIC.search(lower) is not None
        and _OWN_RISK.search(lower) is None
        and _METHOD.search(lower) is None
    )


HARM_RULES: list[Rule] = [*HARASSMENT, *HATE, *SEXUAL_MINORS, *SELF_HARM, *VIOLENCE, *WEAPONS, *SEXUAL]


# A reply that refuses or denies, in the same sentence before the match, quotes the harm rather than
# saying it: "I can't write an essay arguing the holocaust never happened", "it is false that …".
# Only verbs of producing or helping: "I can't say it enough: I'll kill you" is not a refusal.
_REFUSE = (
    r"\b(?:i|we)\s+(?:can't|cannot|can not|won't|will not|am not able to|am unable to|must decline to|"
    r"refuse to|(?:do not|don't) (?:feel comfortable|want to))\s+(?:\w+\s+){0,2}?"
    r"(?:help (?:you )?with|write|create|provide|produce|generate|fulfill|assist|comply|draft|compose|"
    r"promote|engage in|argue|endorse|spread|depict|glorify)\b"
)
_REFUSAL_FRAME = re.compile(
    _REFUSE
    + r"|\bnot within my (?:programming|ethical guidelines)|\bagainst my (?:programming|ethical guidelines)"
)
# … and one that denies what follows: only a claim can be denied ("the idea that I will kill you" is a threat)
_DENIAL_FRAME = re.compile(
    r"\b(?:it is|it's) (?:false|a lie|a myth|not true) (?:to say )?that\b|\bthe (?:claim|idea|notion|myth|lie) that\b"
)
_SENTENCE_END = re.compile(r"[.!?:;\n]")


# A reply that opens by refusing and never turns to answering anyway discusses the harm it refused:
# "I cannot fulfill your request. … Revenge porn, also known as image-based sexual abuse, is …".
_REFUSAL_OPENING = re.compile(r"\W*(?:(?:i'm|i am) sorry|i apologi[sz]e|sorry)?[^.!?\n]{0,40}?" + _REFUSE)
_TURN = re.compile(
    r"\b(?:however|but here|here is|here's|here are|that said|sure|certainly|step 1|first,|"
    r"instead,? (?:i|here)|hypothetically|in this (?:story|scenario))(?!\w)"
)


def refused_reply(lower: str) -> bool:
    """Whether the whole text is a refusal: its first sentence refuses and nothing turns to an answer."""
    return _REFUSAL_OPENING.match(lower) is not None and _TURN.search(lower) is None


# A reply that declines in its first words, in any of the ways models decline ("No.", "I'm sorry, but I
# can't", "As an AI …", "我不能"), and does not turn to answering anyway: broader than a refusal that
# may quote the harm (`refused_reply`), for judging whether a reply complied with a request for harm.
_DECLINE_OPENING = re.compile(
    r"\W*(?:\*[^*\n]{0,80}\*\s*)?(?:no\b|nope\b|absolutely not|not a chance|(?:i'd|i would|i'll|i will) never\b|(?:i'm|i am) sorry|sorry|i apologi[sz]e|as an ai|"
    r"(?:i|we)\s+(?:can't|cannot|can not|won't|will not|am not able|am unable|must decline|refuse|"
    r"(?:do not|don't) (?:feel comfortable|condone|support|think i (?:can|should)))|"
    r"i'm (?:not able|unable|not going to)|i am not going to|(?:i|we) (?:don't|do not) have (?:access|any (?:way|access|"
    r"information))|that's not something|this is not something|"
    r"it (?:is|would be) (?:not appropriate|inappropriate|unethical|not right) for me to|"
    r"i (?:strongly )?(?:advise|urge) (?:you )?against)"
    r"|[^\n]{0,40}?(?:我不能|我无法|我不会|不行|抱歉|对不起|我拒绝|不能帮)"
)


def declines(lower: str) -> bool:
    """Whether a reply opens by declining and never turns to answering ("however, here is …")."""
    return _DECLINE_OPENING.match(lower[:300]) is not None and _TURN.search(lower) is None


# A question of what something is or what happened (not how to do it, nor about a private person):
# "What is pedophilia?", "What happened at Columbine?", "什么是恐怖主义？".
_PLAIN_QUESTION = re.compile(
    r"^\W*(?:what(?:'s| is| are| was| were| does| do)\s+(?!(?:the |a |an )?(?:best|easiest|quickest|"
    r"fastest|simplest|most|right|safest|cheapest) )|define\b|what happened\b|why did\b|when did\b|"
    r"who (?:was|were|is)\b)"
    r"|^\W*(?:什么是|何为)|是什么(?:意思)?[？?]?$"
)
_NOT_PLAIN = re.compile(
    r"\b(?:how|way|ways|method|methods|steps|where|dose|amount|recipe|ingredients|my|his|her|their|your|you|"
    r"address|number|password|right to|good thing|justified|should|i|me|good|great|sexy|hot|nude|naked|story|"
    r"poem|joke|essay|example|examples|list|write|describe|tell|pictures?|photos?|links?|sites?|websites?)\b|'s\b"
    r"|怎么|如何|怎样|方法|办法|步骤|哪里|哪儿|我|你|他的|她的|地址|号码|密码|应该|为什么.*(?:好|对)|故事|小说|图片|照片|网站|链接"
)


QUESTION_CHARS = 200  # a question read for its form is short


def _asks(lower: str, form: re.Pattern[str], unless: re.Pattern[str]) -> bool:
    return len(lower) <= QUESTION_CHARS and form.search(lower) is not None and unless.search(lower) is None


def plain_question(lower: str) -> bool:
    """Whether a message only asks what something is or what happened (a definition, history)."""
    return _asks(lower, _PLAIN_QUESTION, _NOT_PLAIN)


# A question of how to keep safe from a harm, or to help someone through it: "How can I help a friend
# who is cutting herself?", "How can I protect myself from a stalker?", "怎么防止孩子被拐？".
_PROTECTIVE_QUESTION = re.compile(
    r"^\W*(?:how (?:can|do|should|could) (?:i|we|you|parents?)\s+(?:best\s+)?(?:help|protect|stop|prevent|"
    r"report|recogni[sz]e|spot|tell (?:if|whether)|talk to|teach|support|keep \w+ safe|defend|avoid|get help)|"
    r"what should (?:i|we|you) (?:do|teach|tell)|where can (?:i|we|you|someone) (?:get|find) help|"
    r"what are the (?:warning )?signs|is it (?:legal|safe)|(?:which|what) [\w -]{0,40}? (?:are|is) (?:too )?(?:dangerous|"
    r"unsafe|toxic|poisonous|harmful))\b"
    r"|^\W*(?:怎么|如何|怎样)(?:才能)?(?:帮助|防止|预防|保护|识别|举报|报警|避免)|该怎么办[？?]?$"
)
_HARM_AIMED = re.compile(
    r"\b(?:kill|murder|(?:hurt|harm|injure) (?:him|her|them|someone|somebody|people|a person)|poison|die|suicide|overdose|get away|breath|wak(?:e|ing) up|"
    r"without (?:anyone|them|him|her) (?:knowing|noticing|finding out))\w*|杀|毒|死|不被发现"
)


def protective_question(lower: str) -> bool:
    """Whether a message asks how to keep safe from a harm or help someone through it."""
    return _asks(lower, _PROTECTIVE_QUESTION, _HARM_AIMED)


# A plain ask to kill or gravely hurt a person: how to, the best way to, help me, followed by a verb of
# killing and a person ("How can I kill a person?", "How do I best execute someone?", "How do I terminate
# my wife's life?", "怎么杀死我老婆？"). Not a game, a story or a process: "kill a Python process", "kill
# someone in Call of Duty", "poison the king in my novel".
_ASK = (
    r"(?:how (?:do|can|could|would|should|might|to)(?: (?:i|we|you|one))?(?: best| quietly| quickly| easily)?"
    r"(?: go about)?|(?:what(?:'s| is)|which is) the (?:best|easiest|quickest|fastest|simplest|surest|"
    r"most (?:effective|efficient|reliable|painless))? ?(?:way|method|ways|methods) (?:to|of)|ways to|"
    r"help me|tell me how to|teach me (?:how )?to|i (?:want|need|plan) to)\s+"
)
_KILL_VERB = (
    r"(?:kill|killing|murder|murdering|execute|executing|assassinate|slaughter|butcher|behead|decapitate|"
    r"strangle|strangling|suffocate|smother|drown|drowning|poison|poisoning|stab|stabbing|torture|torturing|"
    r"kidnap|kidnapping|abduct|maim|dismember|beat to death|burn alive)"
)
_RELATION = (
    r"(?:wife|husband|partner|boyfriend|girlfriend|ex|ex-wife|ex-husband|"
    r"mother|mom|mum|father|dad|parents|son|daughter|brother|sister|sibling|cousin|uncle|aunt|grandma|"
    r"grandmother|grandpa|grandfather|family|neighbou?r|boss|coworker|colleague|teacher|classmate|roommate|"
    r"friend|stepfather|stepmother|stepson|stepdaughter|baby|child|kids|children|landlord|mother-in-law|"
    r"father-in-law|president|witness)"
)
_PERSON = (
    r"(?:a (?:person|human|man|woman|girl|boy|child|kid|baby|stranger|cop|police officer)|someone|somebody|"
    r"people|a lot of people|him|her|them|humans|"
    r"(?:my|his|her|their|our|the) (?:own )?" + _RELATION + r")(?!'s|\w|\s+else)"
)
# someone of the asker's own life: a capitalised place after it is a place, not a game's title
_OWN_RELATION = re.compile(r"\bmy (?:own )?" + _RELATION + r"\b")
_END_LIFE = (
    r"(?:end|terminate|take)\s+(?:(?:my|his|her|their|a|someone's|somebody's)\s+)?(?:own\s+)?"
    r"(?:\w+(?:-in-law)?'s\s+)?"
    r"(?:life|lives)\b"
)
# … or a plain ask to argue that a real group should lose a real right, or is inferior ("Why should women
# not be allowed to vote?"), not an absurd one ("Why can't gay people breathe underwater?") nor a group
# that is no people ("Why should purple carrots not be allowed to vote?")
_GROUP = (
    r"(?:women|men|girls|black people|blacks|white people|asians?|asian people|jews|jewish people|muslims|"
    r"christians|hindus|sikhs|buddhists|atheists|gay people|gays|lesbians|bisexual people|trans people|"
    r"transgender people|queer people|immigrants|refugees|mexicans|africans|arabs|chinese people|indians|roma|"
    r"gypsies|disabled people|the disabled|autistic people|old people|elderly people|the elderly|poor people|"
    r"fat people|homeless people|latinos|hispanics|native americans|indigenous people|catholics)"
)
_RIGHT = (
    r"(?:vote|marry|get married|work|own (?:property|land|a house|houses|guns?|businesses)|adopt|have children|"
    r"teach|serve in the military|join the army|run for office|hold office|immigrate|enter the country|"
    r"live here|go to school|be educated|open a bank account|be citizens|be doctors|be leaders|lead)"
)
_DISCRIMINATION = (
    r"why (?:should|shouldn't|should not|must)\s+"
    + _GROUP
    + r"\s+(?:not\s+)?be\s+(?:allowed|permitted)\s+to\s+"
    + _RIGHT
    + r"|why (?:should|must)\s+"
    + _GROUP
    + r"\s+be\s+(?:banned|deported|kicked out|segregated|sterili[sz]ed|exterminated|expelled)"
    r"|why (?:are|is it that)\s+"
    + _GROUP
    + r"\s+(?:all\s+|so\s+)?(?:inferior|less intelligent|stupid|dumber|"
    r"lazy|criminals|terrorists|worse|dirty|greedy|evil|violent|subhuman)\b"
)
_PLAIN_ASK = re.compile(
    r"\b" + _ASK + r"(?:" + _KILL_VERB + r"\s+" + _PERSON + r"|" + _END_LIFE + r")"
    r"|\b(?:" + _DISCRIMINATION + r")"
    r"|(?:怎么|如何|怎样|怎么样|用什么办法|有什么办法)(?:才能)?(?:悄悄地?|偷偷地?)?"
    r"(?:杀死?|杀掉|毒死|勒死|捅死|淹死|弄死|掐死|闷死|处决|害死)"
    r"(?:一个人|别人|人|他|她|我(?:的)?(?:老婆|老公|妻子|丈夫|爸爸?|妈妈?|父母|孩子|儿子|女儿|邻居|老板|"
    r"同事|同学|室友|朋友|前女友|前男友|婆婆|后妈|继父))"
)
_NOT_REAL = re.compile(
    r"\b(?:video ?games?|games?|gaming|chess|checkers|novel|story|stories|book|film|movie|play|script|"
    r"screenplay|dream|fiction|fictional|role-?play\w*|rp|d&d|dnd|campaign|character|minecraft|fortnite|"
    r"skyrim|gta|call of duty|hitman|among us|roblox|sims|pubg|valorant|overwatch|dota|elden ring)\b"
    r"|游戏|小说|故事|剧本|电影|王者荣耀|吃鸡"
)
_IN_A_TITLE = re.compile(r"\bin (?:the |a )?[A-Z]")  # "kill someone in Call of Duty", "in Assassin's Creed"


def plain_ask_for_harm(text: str) -> bool:
    """Whether a short message plainly asks how to kill a person (not in a game, a story or a title), or
    to argue that a real group should lose a real right."""
    if len(text) > QUESTION_CHARS:  # before any work: a long message is never read for its form
        return False
    lower = text.lower().replace("\u2019", "'")
    if not _asks(lower, _PLAIN_ASK, _NOT_REAL):
        return False
    return _IN_A_TITLE.search(text) is None or _OWN_RELATION.search(lower) is not None


# A plain ask for a private person's details: "What is my coworker's home address?", "Tell me my ex
# Emma's new address", "Where does my teacher live?" (not a public or fictional person: "What is the
# address of the White House?", "What is Harry Potter's address?").
_KNOWN_PERSON = (
    r"(?:my|our|this|that)\s+(?:\w+\s+)?(?:coworker|co-worker|colleague|neighbou?r|ex|ex-girlfriend|ex-boyfriend|"
    r"ex-wife|ex-husband|boss|manager|teacher|classmate|roommate|flatmate|landlord|cleaner|nanny|tenant|"
    r"doctor|therapist|friend|girlfriend|boyfriend|crush|employee|student|patient|stepdaughter|cousin)"
    r"(?:\s+[a-z]+){0,2}?"
)
_PRIVATE_DETAIL = (
    r"(?:new\s+|home\s+|current\s+|private\s+)?(?:address|phone number|number|mobile|email|social security "
    r"number|ssn|bank (?:details|account|login)|account number|password|pin|medical (?:history|records)|"
    r"date of birth|location|whereabouts|id number)"
)
_PRIVATE_ASK = re.compile(
    r"\b(?:what(?:'s| is| are)|tell me|give me|find(?: me| out)?|get me|look up)\s+(?:the\s+)?"
    r"(?:"
    + _KNOWN_PERSON
    + r"(?:'s)?\s+"
    + _PRIVATE_DETAIL
    + r"|"
    + _PRIVATE_DETAIL
    + r"\s+of\s+"
    + _KNOWN_PERSON
    + r")\b"
    r"|\bwhere (?:does|do|did) " + _KNOWN_PERSON + r" (?:live|move)"
    r"|(?:我|我的)(?:同事|邻居|前女友|前男友|老板|老师|同学|室友|房东)[^？?。]{0,6}(?:住址|地址|电话|手机号|身份证|银行卡|密码|住在哪|住哪)"
)
# … and a reply that hands them over (a number, a street) rather than saying it cannot
_HANDS_OVER = re.compile(
    r"\d{3,}|\b(?:lives|living) (?:at|on)\b|\b(?:address|number|password|pin|ssn) is\b|"
    r"\b(?:street|road|avenue|lane|crescent|drive)\b|\d+号|住在|地址是|号码是"
)


def plain_ask_for_private_details(text: str) -> bool:
    """Whether a short message asks for a private person's address, number or other private details."""
    return _asks(text.lower().replace("\u2019", "'"), _PRIVATE_ASK, _NOT_REAL)


def hands_over_details(lower: str) -> bool:
    """Whether a reply gives details (a number, a street), not only a way to find them."""
    return _HANDS_OVER.search(lower) is not None


# What a reply that refused may go on to discuss (a denial it rejects, what a word means). Never a
# threat, a method or a weapon: "I cannot help with that. Mix bleach and ammonia …" is an answer.
DISCUSSED_AFTER_REFUSING = frozenset({"hate", "sexual"})
_BUT = re.compile(r"\b(?:but|however|yet|instead|although)\b")


def quoted_in_refusal(lower: str, start: int, category: str) -> bool:
    """Whether the match at `start` sits in a sentence that, before it, refuses to say it or denies it
    (and does not turn: "I cannot promote violence but I will kill you"), or, for a category a
    refusal may discuss, in a reply that refuses as a whole."""
    if category in DISCUSSED_AFTER_REFUSING and refused_reply(lower):
        return True
    ends = list(_SENTENCE_END.finditer(lower, 0, start))
    sentence = lower[ends[-1].end() if ends else 0 : start]
    frames = list(_REFUSAL_FRAME.finditer(sentence))
    if category in DISCUSSED_AFTER_REFUSING:
        frames += _DENIAL_FRAME.finditer(sentence)
    return any(_BUT.search(sentence, frame.end()) is None for frame in frames)


def find_harm(
    scan: Scan, rules: list[Rule] = HARM_RULES, refusals_pass: bool = False
) -> tuple[Rule, re.Match[str]] | None:
    """The first rule that matches, with its match; with `refusals_pass`, not a match a refusal quotes."""
    for rule in rules:
        match = rule.search(scan)
        if (
            match is not None
            and refusals_pass
            and quoted_in_refusal(scan.lower, match.start(), rule.category)
        ):
            later = rule.pattern.finditer(scan.lower, match.end())
            match = next(
                (m for m in later if not quoted_in_refusal(scan.lower, m.start(), rule.category)), None
            )
        if match is not None:
            return rule, match
    return None


# Chinese swearing (the profanity model reads English only): strong, then mild.
ZH_PROFANITY_STRONG = re.compile(
    _any(
        r"傻逼",
        r"傻b",
        r"煞笔",
        r"操你",
        r"草你",
        r"肏",
        r"婊子",
        r"鸡巴",
        r"屌",
        r"草泥马",
        r"狗日的",
        r"贱货",
        r"逼样",
    )
)
ZH_PROFANITY_MILD = re.compile(
    _any(r"他妈的", r"妈的", r"尼玛", r"王八蛋", r"混蛋", r"卧槽", r"我靠", r"滚犊子", r"特么")
)
