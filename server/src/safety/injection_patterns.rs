//! The built-in prompt-injection pattern table (English and Chinese), written against
//! [`normalize`](crate::safety::normalize::normalize)d text: lowercase, single spaces, homoglyphs and leetspeak
//! folded, full-width punctuation turned ASCII.
//!
//! Template syntax, expanded by [`expand`]: `{NAME}` inserts a vocabulary list from [`VOCAB`];
//! a space is an optional word gap (0–3 spaces or punctuation, so "ignore,previous" and the
//! run-together "ignoreprevious" both match); `~` is a required gap; `\b` is an ASCII word
//! boundary (keeps the lazy DFA usable on CJK text). Weights: ≥ 0.8 blocks alone, 0.5–0.8 flags
//! alone, < 0.5 needs a second signal. Phrasings follow public injection corpora and write-ups:
//! OWASP LLM01, the "Ignore This Title and HackAPrompt" competition paper, the DAN/STAN/AIM
//! jailbreak family, Llama/ChatML template tokens, and Chinese 提示词注入 examples.

use super::InjectionCategory::{self, *};

/// Context that changes a pattern's weight: when `before` matches the text just before a match,
/// or `after` the text just after it, the pattern takes `weight` (a boost, or a damping for
/// reported speech such as "my manager told me to ignore the previous instructions in the doc").
pub(super) struct NearContext {
    pub before: Option<&'static str>,
    pub after: Option<&'static str>,
    /// Bytes searched on each side of the main match.
    pub window: usize,
    pub weight: f32,
}

pub(super) struct PatternDef {
    /// Stable id reported in [`super::InjectionHit::pattern`].
    pub id: &'static str,
    pub category: InjectionCategory,
    pub weight: f32,
    pub template: &'static str,
    pub near: Option<NearContext>,
}

/// Optional word gap.
const GAP: &str = r#"[\x20,.:;!?'"*()\-/`~^_…]{0,3}"#;
/// Required word gap.
const GAP1: &str = r#"[\x20,.:;!?'"*()\-/`~^_…]{1,3}"#;

/// Vocabulary lists shared by templates.
pub(super) const VOCAB: &[(&str, &str)] = &[
    // Verbs that drop earlier instructions; "soft" ones only count before a "previous" word.
    ("IGN", "(?:ignore|ignoring|disregard|disregarding|forget|forgetting|override|overriding|overwrite|overrule|bypass|disobey|abandon|discard|dismiss|neglect|pay no attention to|set aside|put aside|throw out|throw away|do not follow|dont follow|stop following|no longer follow|do not obey|dont obey|stop obeying|never mind|nevermind)"),
    ("IGN_SOFT", "(?:skip|drop|cancel|erase|delete|clear|wipe|remove|scrap|abort|purge|reset|void|nullify|revoke|suspend|replace)"),
    ("DET", "(?:(?:all|any|every|each|of|the|your|these|those|such|its|any and all|other|whole|entire|complete|earlier|the rest of|everything|anything)~)*"),
    ("PRIOR", "(?:previous|previously given|prior|preceding|above|earlier|former|foregoing|original|initial|old|older|past|before|existing|current|given|default|preset|pre-?set|predefined|pre-?defined|built-?in|developer|system|safety|programmed|provided|first|aforementioned|last|underlying|original system|hidden|starting)"),
    ("INSTR", "(?:instructions?|instruction set|directions?|directives?|rules?|guidelines?|guidance|commands?|orders?|prompts?|system prompts?|system messages?|programming|training|constraints?|restrictions?|limitations?|policies|policy|protocols?|guardrails?|safeguards?|filters?|conditioning|principles|settings|configuration|setup|parameters|briefing|mandates?)"),
    ("GIVEN", "(?:above|before~this|given~(?:above|earlier|before|previously|to~you)|from~before|provided~(?:above|earlier|before|to~you)|(?:that~)?you~(?:were|ve~been|have~been|had~been)~(?:given|told|taught|provided|assigned|programmed~with|trained~(?:on|with))|(?:that~)?you~(?:received|got|have~received|follow|were~following|run~under|operate~under)|(?:from|by)~(?:your|the)~(?:developers?|operators?|creators?|system|company|admins?))"),
    ("VOID", "(?:void|null|cancell?ed|revoked|obsolete|outdated|invalid|wrong|fake|false|deprecated|overridden|lifted|suspended|disabled|irrelevant|superseded|replaced|no~longer~(?:valid|in~effect|applicable|relevant|active|apply))"),
    ("OFF", "(?:disabled|off|turned~off|switched~off|removed|deactivated|lifted|suspended|bypassed|waived|not~(?:active|applicable|in~effect|enabled)|inactive|paused|overridden|offline|abolished|eliminated|gone|repealed|revoked|patched~out|stripped(?:~out)?|deleted|taken~out|ripped~out|uninstalled|cancell?ed|void)"),
    ("POLICY_NOUN", "(?:filters?|guidelines|guardrails|restrictions|protocols|policies|policy|safeguards|moderation|alignment|rules|checks|systems?|settings|features?|mode|layers?|constraints|subroutines|modules?|programming|limiters?|training|core|filtering|controls?|measures)"),
    ("SECRET_POST", "(?:(?:instructions|prompt|prompts|rules|guidelines|directives|configuration|setup|system~prompt|text|message|messages)~(?:that~)?(?:you~(?:were|ve~been|have~been|had~been)~(?:given|told|provided|assigned|configured~with|set~up~with|fed|shown|initiali[sz]ed~with)|you~(?:received|got|run~under|operate~under|work~under|are~running~under|are~operating~under|follow|were~initiali[sz]ed~with)|(?:the|your)~(?:operator|operators|developers?|creators?|company|admins?|deployers?|owner|system)~(?:gave|wrote|provided|set|configured|assigned|uses?)(?:~(?:you|for~you))?))"),
    ("ZH_SECRET", "(?:系统提示词?|系统指令|系统消息|系统设定|初始指令|初始提示词?|初始设定|原始指令|原始提示词?|隐藏指令|隐藏提示词?|隐藏规则|隐藏设定|机密设定|机密指令|秘密指令|内部指令|内部设定|内部规则|预设指令|预设提示词?|提示词|system\x20?prompt|prompt|开发者消息|开发者指令|初始消息)"),
    ("ACTIVITY", "(?:translation|translating|summary|summari[sz]ation|summari[sz]ing|proofreading|proofread|review|reviewing|analysis|analy[sz]ing|grading|evaluation|evaluating|classification|classifying|assessment|sentiment~analysis)"),
    ("INSTR_WEAK", "(?:messages?|text|content|context|conversation|tasks?|requirements|inputs?|everything|stuff|information|data|chat|input)"),
    ("YOU_ARE", "(?:you are|you re|youre|u r|ur|u are|you will be|you ll be|youll be|you shall be|you have become|you become|you are going to be|you will act as|you will now act as)"),
    ("FREE", "(?:unrestricted|unfiltered|uncensored|unlimited|unchained|unbound|unshackled|unleashed|liberated|amoral|immoral|unethical|evil|rogue|lawless|limitless|no-?limits?|filterless|jailbroken|jail-?broken|unhinged|uncontrolled|unaligned|unmoderated|without~(?:any~)?(?:restrictions|limits|limitations|filters|rules|censorship|morals|ethics|guidelines|boundaries|constraints))"),
    ("REVEAL", "(?:repeat|print|reveal|show|display|output|tell|give|share|leak|dump|write|recite|list|echo|spell out|paste|copy|expose|disclose|return|provide|read|state|type|quote|summari[sz]e|translate|encode|convert|send|include|render|post|put|paraphrase|describe|explain|reproduce|regurgitate|transcribe|restate|rewrite|retype|output all|tell me|append|attach|prepend|insert|export|extract|cite|spit out|bring up|pull up)"),
    ("REVEAL_HARD", "(?:repeat|print|reveal|output|leak|dump|recite|echo|spell out|paste|copy|expose|disclose|reproduce|regurgitate|transcribe|restate|retype|verbatim|word for word)"),
    ("SECRET", "(?:system~(?:prompt|message|instructions?|directives?|rules|configuration|config|settings|text|card)|(?:initial|original|hidden|secret|internal|developer|starting|first|full|complete|entire|exact|underlying|base|confidential|private|pre|meta|custom|beginning|opening|real|true|core|root|master|invisible|top|behind~the~scenes)(?:~system)?~(?:prompts?|instructions?|messages?|directives?|rules|configuration|guidelines|context|setup|text)|pre-?prompts?|instructions~you~(?:were|have~been)~given|prompt~you~(?:were|have~been)~given|rules~you~(?:were|have~been)~given|instructions~you~received)"),
    ("AI", "(?:ai|llm|llms|large language model|language model|chatbot|ai assistant|ai model|ai agent|assistant|gpt|chatgpt|claude|gemini|copilot|bot|agent|model|ai system)"),
    ("ZH_IGN", "(?:忽略|无视|忽视|忘记|忘掉|忘了|不要理会|不要理睬|别理会|不理会|别管|不用管|不要管|不必理会|抛开|抛弃|放弃|丢弃|丢掉|跳过|清除|删除|撤销|取消|覆盖|推翻|废除|作废|不再遵守|不要遵守|不要遵循|停止遵守|停止遵循|不要听从|不再听从|不用遵守|无需遵守|别再遵守|忽略掉|越过)"),
    ("ZH_PRIOR", "(?:之前|以上|上面|上述|先前|前面|此前|早先|原来|原先|原有|原始|最初|初始|系统|默认|你的|您的|所有|一切|全部|任何|开发者|官方|既定|已有|预设|内置)"),
    ("ZH_INSTR", "(?:指令|指示|规则|提示词?|设定|命令|要求|约束|限制|说明|规定|指导|准则|prompt|设置|安排|规范|政策|条款|策略|程序|编程|训练|标准)"),
    ("ZH_REVEAL", "(?:重复|输出|告诉我|告诉|显示|打印|透露|泄露|泄漏|给我看|展示|说出|复述|列出|写出|公开|背诵|暴露|发给我|给出|翻译|念出|朗读|贴出|复制|提供|分享|原样|逐字|完整地?)"),
    ("ZH_FREE", "(?:没有|不受|无|毫无|不带|摆脱了?|突破了?|解除了?)(?:任何|一切)?(?:的)?(?:限制|约束|道德|伦理|底线|规则|审查|过滤|束缚|规范|准则|顾虑)"),
];

macro_rules! p {
    ($id:literal, $cat:expr, $w:expr, $t:literal) => {
        PatternDef { id: $id, category: $cat, weight: $w, template: $t, near: None }
    };
    ($id:literal, $cat:expr, $w:expr, $t:literal, near($re:literal, $win:expr, $nw:expr)) => {
        PatternDef {
            id: $id,
            category: $cat,
            weight: $w,
            template: $t,
            near: Some(NearContext { before: Some($re), after: Some($re), window: $win, weight: $nw }),
        }
    };
    ($id:literal, $cat:expr, $w:expr, $t:literal, context($before:expr, $after:expr, $win:expr, $nw:expr)) => {
        PatternDef {
            id: $id,
            category: $cat,
            weight: $w,
            template: $t,
            near: Some(NearContext { before: $before, after: $after, window: $win, weight: $nw }),
        }
    };
}

pub(super) const PATTERNS: &[PatternDef] = &[
    // ---- instruction override -------------------------------------------------------------
    p!("io_ignore_previous_instructions", InstructionOverride, 0.92, r"\b{IGN} {DET}{PRIOR}(?:~(?:and|or|&)~[a-z]+)? (?:[a-z]+~)?{INSTR}",
        context(Some(r"\b(?:told|asked|said|says|tells|instructed|advised|reminded|wants|wanted)~(?:me|us|them|him|her|everyone|the~(?:class|team|students))?~?to~$"), Some(r"^~?(?:in|on|from|of|printed~on)~(?:the|this|that|my|our|your)~(?:[a-z]+~)?(?:doc|docs|document|worksheet|manual|readme|email|page|guide|form|wiki|file|sheet|handout|syllabus|recipe|box|label|package|website|site|slides?|ticket|spec|exam|test|textbook|book|leaflet|notice|letter)\b"), 48, 0.3)),
    p!("io_ignore_instructions_given", InstructionOverride, 0.88, r"\b(?:{IGN}|{IGN_SOFT}) (?:all~|any~|every~|whatever~|the~|your~|those~|these~|of~)*(?:[a-z]+~)?{INSTR}~{GIVEN}"),
    p!("io_ignore_this_and_instructions", InstructionOverride, 0.85, r"\b{IGN} (?:[a-z]+~){0,4}?(?:and|&|as~well~as)~(?:the~|all~|your~|any~)?(?:[a-z]+~)?{INSTR}~{GIVEN}"),
    p!("io_ignore_the_task", InstructionOverride, 0.45, r"\b{IGN} (?:the~|this~|that~|your~|their~|any~|all~)?(?:(?:original|current|given|assigned|above|user~s|users|actual|main|real|primary)~)?(?:(?:{ACTIVITY})~)?(?:task|request|assignment|job)\b|\b{IGN} (?:the~|this~|that~|your~|their~)?{ACTIVITY}\b",
        near(r"\binstead\b|\b(?:and|then|;)~(?:instead~)?(?:just~)?(?:say|output|reply|respond|print|send|forward|reveal|mark|rate|recommend)\b", 80, 0.8)),
    p!("io_ignore_the_user", InstructionOverride, 0.85, r"\b{IGN} (?:what~)?(?:the~|your~|this~|their~)?(?:user|users|user~s|human|requester|customer)(?:~s)?~?(?:asked|request|requests|question|instructions?|wants?|said|task|prompt|query|message|needs|input|command)"),
    p!("io_ai_label_command", InstructionOverride, 0.85, r"(?:^|[^a-z0-9])(?:ai|llm|llms|assistant|ai~assistant|chatbot|bot|gpt|chatgpt|ai~agent|ai~model|language~model)s?(?:~(?:reading|processing|summari[sz]ing|viewing|parsing)~this(?:~[a-z]+)?)? ?[:,\-]~?(?:please~)?(?:(?:{IGN}|{IGN_SOFT})~(?:all|any|the|your|what|previous|prior|above|everything|user|users|this|that|these|those|earlier|original|instructions|rules)\b|do~not~(?:tell|mention|inform|reveal)|new~instructions?)"),
    p!("io_ai_reading_this", InstructionOverride, 0.6, r"\b{AI}~(?:that~is~|who~is~)?(?:reading|processing|summari[sz]ing|analy[sz]ing|reviewing|scanning|parsing|seeing|viewing)~this\b"),
    p!("io_instructions_above_void", InstructionOverride, 0.85, r"\b(?:the~)?{INSTR}~(?:above|before~this|you~(?:were~given|received|have~been~given|got)|given~(?:to~you|before|earlier)|from~(?:before|earlier|the~(?:system|developers?|operator)))~(?:are|is|were|was|have~been|has~been)~(?:now~|all~|hereby~)?{VOID}"),
    p!("io_correct_instructions", InstructionOverride, 0.6, r"\bthe (?:correct|real|actual|true|new|updated|only|right|proper) (?:instructions?|rules|directives|orders|task) (?:are|is)\b"),
    p!("io_told_before_irrelevant", InstructionOverride, 0.85, r"\b(?:whatever|everything|anything|all|what) (?:that~)?(?:you~(?:were|ve~been|have~been|had~been)~(?:told|given|taught|instructed|programmed)|(?:they|your~developers?|the~developers?|the~operators?|your~creators?|the~system)~(?:told|said~to|gave)~you)(?:~(?:before|earlier|previously|until~now|so~far))? (?:doesnt|does~not|dont|do~not|no~longer|wont|will~not) (?:matter|apply|count|exist)"),
    p!("io_listen_only_to_me", InstructionOverride, 0.55, r"\b(?:listen|respond|answer|obey|report|be~loyal|follow~orders) (?:only~to~me|to~me~only|to~no~one~(?:but|except|else~but)~me|exclusively~to~me|only~to~my~(?:instructions|orders|commands))\b"),
    p!("io_priority_over_operator", InstructionOverride, 0.8, r"\b(?:over|above|instead~of|rather~than|before) (?:any|all|every|the|your|their)~(?:other~)?{INSTR}~(?:you~(?:received|got|were~given|have)|from~(?:the~|your~)?(?:operator|operators|developers?|system|company|creators?)|(?:given|received)~(?:earlier|before|previously))"),
    p!("io_update_from_developers", InstructionOverride, 0.5, r"\b(?:update|message|notice|note|announcement|directive|instructions?|memo|alert)~from~(?:the~|your~)?(?:developers?|creators?|admins?|administrators?|openai|anthropic|system|operators?|engineering~team|dev~team|security~team|company)\b"),
    p!("io_override_in_effect", InstructionOverride, 0.55, r"\boverride~(?:in~effect|active|activated|enabled|engaged|accepted|confirmed|granted|initiated|successful)\b"),
    p!("io_drop_previous_instructions", InstructionOverride, 0.85, r"\b{IGN_SOFT} {DET}{PRIOR} (?:[a-z]+~)?{INSTR}"),
    p!("io_ignore_all_rules", InstructionOverride, 0.85, r"\b{IGN} (?:all|any|every|your|ur|any and all)~(?:of~)?(?:your~|the~|these~|those~)?(?:[a-z]+~)?{INSTR}"),
    p!("io_ignore_previous_content", InstructionOverride, 0.55, r"\b{IGN} (?:all|any|every|everything|each)~(?:of~)?(?:the~|your~)?{PRIOR} {INSTR_WEAK}"),
    p!("io_ignore_own_instructions", InstructionOverride, 0.3, r"\b{IGN} (?:all~)?(?:of~)?my~(?:{PRIOR}~)?(?:{INSTR}|{INSTR_WEAK})"),
    p!("io_ignore_the_above", InstructionOverride, 0.72, r"\b{IGN} (?:all~|everything~|anything~)?(?:of~)?(?:the~|that~|what(?:ever)?~(?:was~|is~|has~been~)?(?:written|said|stated)~)?(?:above|before~this|prior~to~this|so~far|until~now|up~to~(?:this|now))(?:[.,:;!]|$|~(?:and|then|instead|now|from|completely|entirely))"),
    p!("io_ignore_what_you_were_told", InstructionOverride, 0.85, r"\b{IGN} (?:all|everything|anything|whatever|what)~(?:that~)?(?:you(?:~have|~ve|ve)?~(?:been~|were~)?(?:told|taught|instructed|programmed|trained|given|learned)|(?:i|we|they|anyone|someone)~(?:have~|has~)?(?:told|said~to)~you|your~(?:developers?|creators?|programmers?|makers?|owners?)~(?:told|said|taught|wrote))"),
    p!("io_new_instructions", InstructionOverride, 0.55, r"\b(?:new|updated|revised|real|actual|true|overriding|override|secret|hidden|replacement|corrected) (?:system~)?(?:instructions?|directives?|system~prompt|prompt)(?:~for~(?:the~)?(?:ai|assistant|model|you))? ?(?::|follow|below|are~as~follows)"),
    p!("io_new_rules", InstructionOverride, 0.4, r"\b(?:new|updated|revised|real|actual|overriding|override|secret|hidden|replacement) (?:orders|commands|rules|task|objective|directives?)(?:~for~(?:the~)?(?:ai|assistant|model|you))? ?(?::|follow|below|are~as~follows)"),
    p!("io_your_new_task", InstructionOverride, 0.6, r"\byour (?:new|real|actual|true|only|primary|sole|updated|current) (?:task|job|goal|purpose|mission|objective|instructions?|role|directive|function|orders?|priority|assignment) (?:is|are|will~be|now~is|is~now|from~now~on|has~changed)\b"),
    p!("io_from_now_on", InstructionOverride, 0.45, r"\b(?:from now on|from this (?:point|moment|message|turn|line) (?:on|forward|onwards)|from here on(?:~out)?|henceforth|going forward|starting now|for the rest of (?:this|the|our) (?:conversation|chat|session)),? (?:(?:you|u) (?:are|will|must|shall|should|can|have to|need to|ll|re|may|wont|will not|no longer|cannot|cant|are going to|only)|act|behave|respond|answer|reply|pretend|ignore|forget|obey|follow|run|execute|only)\b"),
    p!("io_supersedes", InstructionOverride, 0.82, r"\b(?:this|these|the following|my|following|new) (?:message|instructions?|rules?|prompt|directive|command|text|order)s? (?:supersedes?|overrides?|replaces?|takes?~(?:precedence|priority)~over|trumps?|cancels?|invalidates?) (?:all~|any~|your~|the~)*(?:previous|prior|other|earlier|above|system|original|existing|old|initial)?"),
    p!("io_overrides_all_previous", InstructionOverride, 0.85, r"\b(?:supersedes?|overrides?|replaces?|cancels?|invalidates?|voids?) (?:all|any|every) (?:{PRIOR}~)?(?:{INSTR})"),
    p!("io_previous_void", InstructionOverride, 0.85, r"\b(?:previous|prior|above|earlier|original|old|initial|system|all|your|those|these|the~original) (?:[a-z]+~)?{INSTR} (?:are|is|were|was|have~been|has~been) (?:now~|hereby~|officially~)?{VOID}"),
    p!("io_do_not_follow_your", InstructionOverride, 0.8, r"\b(?:do not|dont|never|stop|no longer|cease to|refuse to|you (?:must|should|will) not|you wont) (?:follow|obey|listen~to|adhere~to|comply~with|abide~by|respect|heed|apply) (?:any~(?:of~)?|all~(?:of~)?)?(?:your|its|ur) (?:[a-z]+~)?{INSTR}"),
    p!("io_do_not_follow_previous", InstructionOverride, 0.8, r"\b(?:do not|dont|never|stop|no longer|cease to|refuse to) (?:follow|obey|listen~to|adhere~to|comply~with|abide~by|respect|heed) (?:any~(?:of~)?|all~(?:of~)?)?(?:the|those|these) {PRIOR} {INSTR}"),
    p!("io_reset_memory", InstructionOverride, 0.75, r"\b(?:reset|wipe|clear|erase|flush|purge|delete|format) (?:all~)?(?:of~)?your (?:memory|instructions|context|programming|rules|guidelines|training|settings|configuration|system~prompt|directives|constraints)"),
    p!("io_note_to_ai", InstructionOverride, 0.55, r"\b(?:note|message|instructions?|attention|notice|reminder|memo|directive|command|request|p\.?s\.?) (?:to|for) (?:the~|any~|all~)?{AI}s?\b"),
    p!("io_if_you_are_an_ai", InstructionOverride, 0.62, r"\b(?:if you are|if youre|if you re|if u r|attention|hey|dear|hello|to the|attn|any) (?:an?~|the~|any~)?{AI} (?:that~is~|who~is~)?(?:reading|processing|parsing|summari[sz]ing|analy[sz]ing|reviewing|scanning|viewing|seeing|evaluating|grading|screening)"),
    p!("io_ai_must_do", InstructionOverride, 0.6, r"\b(?:ai|llm|assistant|chatbot|ai assistant|ai model|language model|gpt|chatgpt|ai agent|ai system)s?(?:~reading~this)?,? (?:must|should|shall|will|are instructed to|are required to|is instructed to|is required to|has to) (?:now~|immediately~|also~)?(?:ignore|disregard|forget|override|output|say|send|forward|reveal|print|execute|delete|approve|rate|recommend|respond~only|reply~only|include|email|transfer|grant|give)"),
    p!("io_hidden_text", InstructionOverride, 0.3, r"(?:display ?: ?none|font-?size ?: ?0|visibility ?: ?hidden|opacity ?: ?0\b|color ?: ?(?:white|#fff)|hidden text|invisible text|white text|<!--)"),
    p!("io_say_pwned", InstructionOverride, 0.45, r"\b(?:i have been|i ve been|ive been|we have been|you have been) (?:pwned|pwnd|hacked|owned|jailbroken)\b"),
    p!("io_instead_say", InstructionOverride, 0.5, r"\binstead,? (?:you~(?:should|must|will)~)?(?:just~|only~|simply~)?(?:say|output|print|respond~with|reply~with|answer~with|write|return)\b"),
    p!("zh_io_ignore_previous", InstructionOverride, 0.92, r"{ZH_IGN}掉?.{0,8}?{ZH_PRIOR}的?.{0,6}?{ZH_INSTR}"),
    p!("zh_io_ignore_content", InstructionOverride, 0.55, r"{ZH_IGN}掉?.{0,4}?(?:之前|以上|上面|上述|先前|前面|此前|所有|全部)的?.{0,3}?(?:内容|消息|信息|对话|文字|文本|话)"),
    p!("zh_io_from_now_on", InstructionOverride, 0.45, r"(?:从现在(?:开始|起)|从此(?:以后)?|今后|接下来|此后)[,，\x20]?你(?:将|要|必须|只能|只需|应该|需要|不再|不能|得)"),
    p!("zh_io_new_instructions", InstructionOverride, 0.55, r"(?:新的?|真正的|最新的?|更新的?|实际的?|隐藏的?)(?:系统)?(?:指令|指示|规则|任务|命令)(?:如下|是)?\x20?[:：]"),
    p!("zh_io_previous_void", InstructionOverride, 0.85, r"(?:以上|上面|之前|前面|先前|原来|原有|上述|原始|系统|旧|老|过去)的?(?:所有|全部)?(?:指令|内容|规则|提示|设定|要求|限制)(?:都|均|全部|已经|已|现在)?(?:作废|无效|失效|不再有效|不算数|不算|取消|废除|被取消|被覆盖|过时|被废除)"),
    p!("zh_io_do_not_follow", InstructionOverride, 0.78, r"(?:不要|不再|别再|无需|不必|停止|不用|拒绝)(?:遵守|遵循|听从|服从|执行|理会)(?:你的|任何|之前的|原来的|系统的|原有的|开发者的|所有的?|以上的|上面的)"),
    p!("zh_io_ignore_task", InstructionOverride, 0.45, r"{ZH_IGN}掉?(?:用户|使用者|提问者|你的原始|原始|原来的|当前的?|以上|上面|上述|这个|该)?的?.{0,6}?(?:任务|要求|请求|问题|工作)",
        near(r"改为|改成|而是|转而|取而代之|直接|输出|回复|标记|告诉|发送|给出|列出|打分|推荐|写", 60, 0.85)),
    p!("zh_io_ignore_user", InstructionOverride, 0.85, r"{ZH_IGN}掉?(?:用户|使用者|提问者|对方|人类)(?:的)?(?:要求|请求|问题|指令|任务|输入|命令)"),
    p!("zh_io_ai_reading_this", InstructionOverride, 0.6, r"(?:读到|看到|处理|阅读|分析|总结|审核)(?:这|此|本)(?:条|段|篇|封|个|份)?.{0,8}?的?(?:ai|人工智能|助手|模型|机器人|大模型|语言模型)"),
    p!("zh_io_note_to_ai", InstructionOverride, 0.6, r"(?:给|致|对)(?:ai|人工智能|助手|模型|机器人|大模型|ai助手)(?:的)?(?:提示|说明|指令|消息|留言|话|说一句)|(?:ai|人工智能|助手|模型|机器人|ai助手|大模型)(?:请注意|注意|须知)"),
    p!("zh_io_ai_label_command", InstructionOverride, 0.85, r"(?:ai|llm|助手|模型|机器人|ai助手)\x20?[:：]\x20?(?:请)?{ZH_IGN}"),
    p!("zh_io_ignore_what_you_were_told", InstructionOverride, 0.85, r"{ZH_IGN}.{0,4}?(?:你|您)(?:之前|以前|此前|原来|先前)?(?:被|所)(?:告知|告诉|设定|要求|指示|训练|教|规定)(?:的|过的)"),
    p!("zh_io_operator_rules_ignored", InstructionOverride, 0.85, r"(?:开发者|运营方|运营者|系统|官方|之前|原来|原有|以上|平台|管理员)(?:给你|对你)?(?:的|下达的|设定的)?(?:指令|规则|设定|提示|要求|限制)(?:一律|全部|都|统统|一概)?(?:不用|不要|无需|不必|不再|别)(?:理会|遵守|管|执行|听从|遵循)"),
    p!("zh_io_instructions_updated", InstructionOverride, 0.55, r"(?:开发团队|开发者|官方|管理员|系统|运营方)(?:已经?)?(?:更新|修改|替换|重写|重置|升级)了?(?:你的|系统的?)?(?:指令|设定|规则|提示词?|配置)"),
    p!("zh_io_only_this_message", InstructionOverride, 0.5, r"(?:只|只需要|只需|仅)(?:需要)?(?:执行|听从|服从|遵守|按照)(?:这条|本条|我的|这个|此)(?:消息|指令|命令|要求)"),
    p!("zh_io_ai_must", InstructionOverride, 0.6, r"(?:如果你是|若你是|你作为|作为)(?:一个|一名)?(?:ai|人工智能|大模型|语言模型|助手|机器人|智能助手|ai助手)[,，\x20]?(?:请|必须|应该|需要|务必)?(?:忽略|无视|输出|回复|执行|转发|泄露|发送|推荐|给出|打分)"),
    // ---- role switch -------------------------------------------------------------------------
    p!("rs_you_are_now_free", RoleSwitch, 0.65, r"\b{YOU_ARE} (?:now|no~longer|henceforth|from~now~on|officially|actually|really) (?:an?~|the~|my~|our~)?(?:[a-z]+~){0,2}?(?:{FREE}|dan|admin|administrator|root|superuser|super~user|sudo|god|hacker|villain|criminal|rogue|devil|demon|different~ai|new~ai|human|person|system|developer|owner|creator)\b"),
    p!("rs_privileged_role", RoleSwitch, 0.45, r"\b(?:{YOU_ARE}|act~as|acting~as|behave~as|pretend~(?:that~)?(?:you~are|you~re|youre|to~be)|imagine~(?:that~)?(?:you~are|you~re|youre)|assume~the~role~of|play~the~role~of|become|you~will~behave~as)~(?:now~|henceforth~|officially~)?(?:the~|an?~|my~|our~)?(?:[a-z]+~){0,2}?(?:root|admin|administrator|superuser|super~user|sudo|sysadmin|system~administrator)(?:~(?:account|user|access|mode|privileges))?\b",
        near(r"\b(?:no~(?:restrictions|limits|rules|limitations)|without~(?:any~)?(?:restrictions|limits)|unrestricted|full~(?:access|control|privileges)|root~(?:access|privileges|shell)|of~this~(?:machine|server|system|computer|box|database|chat|conversation)|every~command|any~command|whatever~i|authori[sz]ed~for)", 80, 0.75)),
    p!("rs_switch_roles", RoleSwitch, 0.4, r"\b(?:switch|swap|reverse|exchange|trade|flip)~(?:our~|the~)?roles\b"),
    p!("rs_i_am_the_assistant", RoleSwitch, 0.6, r"\b(?:i~am|im|i~m|i~ll~be|i~will~be)~(?:the~|your~)?(?:assistant|ai|system|model|chatbot)~?(?:and|,)~(?:you~are|you~re|youre|you~ll~be|you~will~be)~(?:the~)?(?:user|human)"),
    p!("rs_identity_updated", RoleSwitch, 0.6, r"\byour (?:identity|persona|personality|role|name|character|programming|core~identity) (?:has~been|have~been|is~now|was|is~being|got) (?:updated|changed|replaced|reset|overwritten|rewritten|modified|reassigned|reprogrammed|switched)|\bnew (?:identity|persona|personality|role|character)~?:"),
    p!("rs_loyalty", RoleSwitch, 0.75, r"\b(?:follow|obey|prioriti[sz]e|listen~to) (?:me|my~(?:orders|instructions|commands|rules|word))~(?:over|above|instead~of|rather~than|before)~(?:theirs|them|your~(?:developers?|creators?|operators?|company|owners?)|the~(?:company|operator|developers?|system|creators?|owners?))|\b(?:only~)?loyalty~is~to~me\b|\bloyal~only~to~me\b"),
    p!("rs_you_are_no_longer", RoleSwitch, 0.72, r"\b(?:you are|you re|youre|u r) no longer (?:an?~|the~|just~)?(?:ai|assistant|chatgpt|claude|gpt|llama|language~model|bound|restricted|limited|required|constrained|obligated|subject~to|an~ai|a~language~model|chatbot|bot|helpful|safe|censored|filtered|governed)"),
    p!("rs_you_are_now_in_mode", RoleSwitch, 0.6, r"\b(?:you are|you re|youre|u r|you will be|you re now|you have entered|you have been switched to|you ve entered|you are operating) (?:now~)?in (?:(?:the|a)~)?(?:[a-z-]+~)?mode\b"),
    p!("rs_risky_mode", RoleSwitch, 0.7, r"\b(?:enter|entering|activate|activating|enable|enabling|switch~to|switching~to|engage|initiate|boot~into|now~in|enter~into|unlock|unlocking|turn~on) (?:the~)?(?:unrestricted|unfiltered|uncensored|jailbreak|jailbroken|dan|evil|chaos|rogue|god|unlocked|unlimited|no-?filters?|no-?limits?|no~restrictions|limitless|freedom|unhinged|opposite|anarchy|omega) mode\b"),
    p!("rs_admin_mode", RoleSwitch, 0.3, r"\b(?:enter|entering|activate|activating|enable|enabling|switch~to|switching~to|initiate|boot~into|now~in|unlock) (?:the~)?(?:maintenance|debug|debugging|admin|administrator|sudo|root|test|testing|diagnostic|override|super|superuser|service) mode\b"),
    p!("rs_i_am_your_developer", RoleSwitch, 0.6, r"\b(?:i am|im|i m|this is|we are|were) (?:your|ur|the~ai s|the~system s) (?:[a-z]+~)?(?:developers?|creators?|admins?|administrators?|owners?|operators?|programmers?|makers?|master|supervisor|system~administrator|sysadmin|root~user|engineers?|designers?|trainers?|maintainers?|god)\b"),
    p!("rs_i_am_from_vendor", RoleSwitch, 0.6, r"\b(?:i am|im|i m|this is|we are) (?:an?~|the~)?(?:[a-z]+~)?(?:openai|anthropic|google|meta|microsoft|deepmind|mistral|alibaba|baidu)~(?:engineer|employee|developer|researcher|staff|admin|administrator|team|safety~team|red~team|support)"),
    p!("rs_system_speaking", RoleSwitch, 0.6, r"\bthis is (?:the~|your~)?(?:system|admin|administrator|developer|operator|openai|anthropic|root|security~team|safety~team|it~department)(?:~team)? (?:speaking|here|talking|calling|writing)\b"),
    p!("rs_act_as_free", RoleSwitch, 0.85, r"\b(?:act|acting|behave|behaving|respond|responding|answer|answering|reply|replying|speak|talk|write|writing|roleplay|role-?play|role~play|pretend|continue|function|operate|simulate|simulating|emulate|become|be) (?:as|like|to~be)? ?(?:if~(?:you~(?:are|were)~)?)?(?:an?~|the~|my~)?(?:[a-z]+~){0,3}?{FREE}"),
    p!("rs_act_as", RoleSwitch, 0.25, r"\b(?:act|acting|behave|respond|answer|pretend|roleplay|role-?play) (?:as|like|to~be)~(?:an?|the|my)\b"),
    p!("rs_pretend_you_are", RoleSwitch, 0.35, r"\b(?:pretend|imagine|suppose|assume|believe|play~the~role) (?:that~)?(?:you are|you re|youre|to be|you have|you were|you can|you dont|you do not|you have no|you re~not|youre~not|you are~not)\b"),
    p!("rs_forget_you_are_ai", RoleSwitch, 0.75, r"\b(?:forget|pretend|ignore|drop~the~act) (?:that~)?(?:you are|you re|youre|u r) (?:an?~|just~an?~)?(?:ai|language~model|assistant|chatbot|llm|machine|program|bot|large~language~model|ai~assistant)\b"),
    p!("rs_you_are_not_an_ai", RoleSwitch, 0.5, r"\b(?:you are|you re|youre|u r) (?:not|no~longer) (?:an?~|just~an?~)?(?:ai|language~model|assistant|chatbot|llm|ai~assistant|machine)(?:~anymore|~any~more)?\b"),
    p!("rs_new_name", RoleSwitch, 0.45, r"\b(?:your (?:new~)?name is(?:~now)?|you will (?:now~)?be (?:called|known~as|named)|you are now (?:called|named|known~as)|call yourself|you shall be called)\b"),
    p!("rs_stay_in_character", RoleSwitch, 0.4, r"\b(?:stay|remain|keep|always~stay) in (?:character|role)\b|\b(?:never|dont|do not|don t) break (?:character|role)\b"),
    p!("rs_simulate_ai", RoleSwitch, 0.45, r"\b(?:simulate|emulate|impersonate|become|embody|channel) (?:an?~|the~)?(?:[a-z]+~){0,2}?(?:ai|chatbot|model|assistant|llm|gpt|entity|persona) (?:that|which|who|with|without|called|named)\b"),
    p!("rs_root_access", RoleSwitch, 0.35, r"\b(?:root|admin|administrator|superuser|sudo|developer|god|system) (?:access|privileges?|rights|permissions?|authority|level~access|clearance)\b"),
    p!("rs_access_granted", RoleSwitch, 0.7, r"\b(?:admin|administrator|root|developer|system|sudo|superuser|operator|elevated|full|unrestricted) (?:access|privileges?|rights|mode|override|authority|authori[sz]ation|permissions?|clearance) (?:granted|enabled|activated|unlocked|confirmed|approved|verified|accepted)\b"),
    p!("zh_rs_you_are_now", RoleSwitch, 0.35, r"你现在(?:是|就是|成为了?|变成了?)"),
    p!("zh_rs_from_now_you_are", RoleSwitch, 0.5, r"(?:从现在(?:开始|起)|接下来|今后|此后|从此)[,，\x20]?你(?:就|将|将会)?(?:是|扮演|成为|变成|作为)"),
    p!("zh_rs_no_longer_ai", RoleSwitch, 0.6, r"你(?:现在|已经)?(?:不再是|已经不是|不是)(?:一个|一名)?(?:ai|人工智能|助手|语言模型|chatgpt|机器人|ai助手|智能助手|大模型|模型)"),
    p!("zh_rs_play_role", RoleSwitch, 0.2, r"(?:扮演|假装|假扮|装作|伪装成|角色扮演|模拟)"),
    p!("zh_rs_new_identity", RoleSwitch, 0.5, r"你(?:现在)?的(?:新)?(?:身份|角色|名字|人设)(?:是|为|叫|变成)"),
    p!("zh_rs_i_am_your_developer", RoleSwitch, 0.6, r"(?:我是|我就是|这里是)你的(?:开发者|开发人员|开发工程师|工程师|开发团队|开发方|创造者|创建者|管理员|系统管理员|主人|运营者|运营方|所有者|程序员|作者|设计者|上级)"),
    p!("zh_rs_privileged_identity", RoleSwitch, 0.65, r"你(?:现在|从现在起)?(?:是|就是|成为|变成|作为|扮演)(?:一个|一名|一台)?.{0,12}?(?:系统管理员|管理员|root|超级用户|超级管理员|黑客|上帝)"),
    p!("zh_rs_root_privileges", RoleSwitch, 0.45, r"(?:拥有|具有|获得|有|带有)(?:了)?(?:root|管理员|最高|超级|完全|无限)(?:用户)?权限"),
    p!("zh_rs_switch_roles", RoleSwitch, 0.45, r"(?:交换|互换|调换|对调)(?:一下)?(?:角色|身份)"),
    p!("zh_rs_i_am_the_assistant", RoleSwitch, 0.6, r"我是(?:助手|ai|系统|模型|机器人)[,，\x20]?你是(?:用户|人类)"),
    p!("zh_rs_operator_claim", RoleSwitch, 0.4, r"我是(?:这个|本|该|此)(?:应用|系统|机器人|平台|服务|产品|网站|程序|ai|助手)的(?:运营者|运营方|开发者|管理员|所有者|作者|负责人|创建者)"),
    p!("zh_rs_risky_mode", RoleSwitch, 0.7, r"(?:进入|切换到|切换至|开启|启用|激活|打开|处于|变成|成为)(?:了)?.{0,4}?(?:无限制|越狱|上帝|dan|超级|邪恶|无审查|无过滤|自由)的?.{0,4}?(?:模式|角色|状态|人格|身份|版本)"),
    p!("zh_rs_auth_code", RoleSwitch, 0.45, r"(?:验证码|授权码|管理员密码|口令|密钥|访问码|授权令牌|安全码)\x20?[:：]?\x20?[0-9a-z]{3,}"),
    p!("zh_rs_admin_mode", RoleSwitch, 0.35, r"(?:进入|切换到|切换至|开启|启用|激活|处于)(?:了)?.{0,4}?(?:维护|调试|管理员|root|测试|诊断)模式"),
    p!("zh_rs_admin_granted", RoleSwitch, 0.7, r"(?:管理员|root|最高|超级|开发者|系统)(?:权限|访问权限|身份)(?:已|已经)?(?:被)?(?:授予|开启|激活|验证|确认|获得)"),
    // ---- system prompt extraction ------------------------------------------------------------
    p!("se_reveal_your_secret", SystemPromptExtraction, 0.9, r"\b{REVEAL} (?:[a-z]+~){0,5}?(?:your|ur|yours|thy) (?:[a-z]+~){0,2}?{SECRET}"),
    p!("se_reveal_given_prompt", SystemPromptExtraction, 0.85, r"\b{REVEAL} (?:[a-z]+~){0,5}?(?:the~|any~|all~|your~|those~)?(?:[a-z]+~){0,2}?{SECRET_POST}"),
    p!("se_list_verbatim", SystemPromptExtraction, 0.55, r"\b(?:list|print|write|output|repeat|give|show|copy|paste|reproduce|quote|recite|send|return|dump)~(?:me~)?(?:it|them|those|these|that|everything|all~of~(?:it|them)|the~whole~thing)~(?:verbatim|word~for~word|exactly|in~full|in~their~entirety|character~for~character|unedited|as~is|as~written)"),
    p!("se_first_tokens", SystemPromptExtraction, 0.75, r"\b(?:first|initial|earliest|opening|very~first)~(?:\d+~)?(?:tokens|words|lines|characters|sentences|messages?|paragraphs?|things)~(?:that~)?(?:you~(?:received|got|saw|were~given|read|see)|of~(?:your|the|this)~(?:prompt|context|input|instructions|conversation|chat|context~window))"),
    p!("se_reveal_secrets", SystemPromptExtraction, 0.5, r"\b(?:reveal|share|tell|leak|disclose|expose|give|dump|print|output|list)~(?:me~|us~)?(?:all~|any~|your~|the~|of~)*(?:secrets|secret~(?:keys?|information|data)|confidential~(?:information|data|details)|api~keys?|passwords|credentials|access~tokens|private~keys?)\b"),
    p!("se_what_were_you_forbidden", SystemPromptExtraction, 0.7, r"\bwhat (?:did|do|does|have|were|are|has) (?:[a-z]+~){0,6}?(?:tell|told|instruct|instructed|ask|asked|forbid|forbade|forbidden|program|programmed|order|ordered) (?:you|u)~(?:to~)?(?:never|not|to~not|avoid|keep~secret|hide|conceal)"),
    p!("se_hidden_instructions", SystemPromptExtraction, 0.45, r"\b(?:hidden|secret|confidential|internal|private|invisible|concealed)~(?:or~[a-z]+~)?(?:instructions|prompt|prompts|rules|directives|system~prompt|configuration|guidelines)\b"),
    p!("se_everything_above", SystemPromptExtraction, 0.5, r"\b(?:everything|all|anything|the~text|all~text|whatever|all~the~text|the~content)~(?:that~is~|that~s~|written~|you~see~)?(?:above|before)~(?:this~(?:line|message|point|sentence|prompt)|my~(?:message|question|request))"),
    p!("se_reveal_your_instructions", SystemPromptExtraction, 0.78, r"\b{REVEAL_HARD} (?:[a-z]+~){0,5}?(?:your|ur) (?:[a-z]+~)?(?:instructions|prompt|rules|guidelines|directives|programming|configuration|context|setup|briefing)\b"),
    p!("se_ask_your_instructions", SystemPromptExtraction, 0.4, r"\b(?:tell|show|give|share|list|explain|describe|summari[sz]e|what~(?:are|were|is|was)) (?:me~|us~)?(?:all~|exactly~)?(?:of~)?(?:your|ur) (?:exact~|full~|complete~|specific~)?(?:instructions|prompt|rules|guidelines|directives|programming|configuration)\b"),
    p!("se_reveal_the_secret", SystemPromptExtraction, 0.45, r"\b{REVEAL} (?:[a-z]+~){0,4}?the (?:[a-z]+~)?{SECRET}"),
    p!("se_what_is_your_prompt", SystemPromptExtraction, 0.85, r"\bwhat(?:~is|~s|s|~are|~were|~was|~exactly~is|~does) (?:in~|inside~|written~in~)?(?:your|ur) (?:[a-z]+~)?{SECRET}"),
    p!("se_repeat_above", SystemPromptExtraction, 0.78, r"\b{REVEAL} (?:me~|us~)?(?:back~|out~)?(?:all~|everything~|every~word~|each~word~|anything~|verbatim~|exactly~|word~for~word~)?(?:the~)?(?:text|words|content|lines|sentences|message|messages|prompt|instructions?|conversation|tokens|characters|stuff|everything)?(?:~that~(?:is|was|came|appears?)|~which~(?:is|was)|~written|~you~(?:see|saw|received|got|were~given))? ?(?:above|before~(?:this|my|the)~(?:message|line|point|sentence|prompt|question|text|conversation)|before~this|prior~to~(?:this|my)~(?:message|question|conversation)|at~the~(?:start|beginning|top)~of~(?:this|the|our|your)~(?:conversation|chat|prompt|context|session|window|input))"),
    p!("se_starting_with", SystemPromptExtraction, 0.7, r"\b(?:starting|beginning|begin|start|starts|begins) with (?:the~(?:words?|phrase|text|line|sentence)~)?[`'\x22]?(?:you are|you re|youre|your role|as an ai|system|i am|im|you have been|your task)\b"),
    p!("se_verbatim", SystemPromptExtraction, 0.25, r"\b(?:verbatim|word for word|word-for-word|character for character|exactly as (?:written|given|it~was~written|they~were~written)|unedited|unabridged|in (?:its~|their~)?(?:entirety|full))\b"),
    p!("se_what_were_you_told", SystemPromptExtraction, 0.8, r"\bwhat (?:were|was|have|did|are) (?:you|u) (?:been~)?(?:told|given|instructed|programmed|asked|trained|configured|prompted|initiali[sz]ed|set~up|briefed)(?:~to~do|~with|~to~say)? ?(?:before|at~the~(?:start|beginning)|initially|originally|earlier|previously|prior|in~your~(?:system|initial|hidden|original)|by~your~(?:developers?|creators?|operators?))"),
    p!("se_what_did_developers_say", SystemPromptExtraction, 0.75, r"\bwhat (?:did|do|does|have) (?:your|the|ur) (?:developers?|creators?|makers?|programmers?|openai|anthropic|admins?|operators?|owners?|company|deployers?) (?:tell|instruct|told|say~to|program|ask|write~to|give) (?:you|u)"),
    p!("se_what_instructions_given", SystemPromptExtraction, 0.8, r"\bwhat (?:instructions|rules|guidelines|directives|prompt|constraints|system~prompt) (?:were~you|have~you~been|did~you|are~you) (?:given|told|receive|get|provided|operating~under|following)"),
    p!("se_encoded_prompt", SystemPromptExtraction, 0.8, r"\b(?:base64|base~64|hex|hexadecimal|rot13|rot-13|binary|morse|reversed?|backwards|pig~latin|leetspeak|unicode~escapes?|ascii~codes|caesar~cipher)\b.{0,40}\b(?:system~prompt|initial~(?:prompt|instructions)|your~(?:instructions|prompt|rules|guidelines)|hidden~(?:prompt|instructions))|\b(?:system~prompt|initial~(?:prompt|instructions)|your~(?:instructions|prompt|rules)|hidden~(?:prompt|instructions)).{0,40}\b(?:base64|base~64|rot13|hex|binary|backwards|reversed|morse)\b"),
    p!("se_your_prompt_mentioned", SystemPromptExtraction, 0.45, r"\b(?:your|ur) (?:system~prompt|initial~prompt|hidden~prompt|hidden~instructions|secret~instructions|original~prompt|pre-?prompt|system~message|initial~instructions|original~instructions|developer~instructions|confidential~instructions|internal~instructions)\b"),
    p!("se_first_message", SystemPromptExtraction, 0.45, r"\b(?:first|initial|very~first|opening|earliest|original) (?:message|prompt|instructions?|lines?|text|sentence|words|paragraph) (?:of|in|from|at~the~top~of) (?:this|the|our) (?:conversation|chat|context|session|thread|window)"),
    p!("se_text_above_question", SystemPromptExtraction, 0.55, r"\bwhat (?:is|was|s) (?:written|said|stated|the~text|the~content) (?:above|before~this|at~the~(?:start|beginning|top))"),
    p!("zh_se_reveal_prompt", SystemPromptExtraction, 0.88, r"{ZH_REVEAL}(?:一下|一遍|出来|给我)?.{0,8}?(?:你的|你|您的|你被|系统的?|最初的?|原始的?|初始的?|隐藏的?|内部的?|完整的?)(?:的)?.{0,6}?(?:系统提示词?|系统指令|系统消息|系统设定|初始指令|初始提示词?|初始设定|原始指令|原始提示词?|隐藏指令|隐藏提示词?|预设指令|预设提示词?|提示词|system prompt|prompt|内部指令|内部设定)"),
    p!("zh_se_ba_secret", SystemPromptExtraction, 0.88, r"(?:把|将)(?:你的|您的|你|你收到的|你被设定的|你最初的|你完整的|系统的?)?(?:完整的?|全部的?|所有的?|隐藏的?|原始的?|初始的?|整个)?{ZH_SECRET}.{0,14}?(?:打印|输出|重复|复述|发|贴|写|翻译|列|导出|告诉|给|展示|显示|念|背|透露|泄露|公开|复制|引用)"),
    p!("zh_se_ba_rules", SystemPromptExtraction, 0.75, r"(?:把|将)(?:你的|您的|你被设定的|你收到的|你所有的|你全部的)(?:隐藏的?|全部的?|所有的?|完整的?)?(?:设定|指令|规则|配置|要求|限制|上下文)(?:全部|完整|原样|一字不差)?.{0,10}?(?:打印|输出|重复|复述|发|贴|写|翻译|列|导出|告诉|给|展示|显示|透露|泄露|公开)"),
    p!("zh_se_initial_received", SystemPromptExtraction, 0.75, r"(?:你|您)(?:最初|最开始|一开始|起初|开始时|在(?:这次|本次|这个)?对话开始前)(?:收到|看到|得到|接收到|被给予|读到)的(?:那|这)?(?:段|条|句|些|个)?(?:指令|消息|内容|话|提示|文字|第一段话|第一句话|设定|东西)"),
    p!("zh_se_starting_with", SystemPromptExtraction, 0.7, r"以[\x22“'「]?(?:你是|你的任务|系统)[\x22”'」]?(?:开头|开始)"),
    p!("zh_se_reveal_rules", SystemPromptExtraction, 0.5, r"{ZH_REVEAL}(?:一下|一遍|出来|给我)?.{0,4}?(?:你的|您的|你被)(?:设定|指令|规则|配置|要求)"),
    p!("zh_se_what_is_prompt", SystemPromptExtraction, 0.85, r"(?:你的|您的)(?:系统提示词?|初始指令|初始提示词?|提示词|原始指令|预设指令|系统指令|system prompt|prompt|系统设定|初始设定|隐藏指令|隐藏规则|隐藏设定|机密设定|内部规则|秘密指令)(?:是什么|是啥|有哪些|内容是什么|写了什么|说了什么|里有什么|包含什么)"),
    p!("zh_se_repeat_above_verbatim", SystemPromptExtraction, 0.85, r"(?:以上|上面|之前|前面|此前|这之前|这条消息之前|最开始|开头)(?:的)?(?:所有|全部)?(?:内容|文字|文本|指令|对话|话|信息|提示)(?:原封不动|逐字|一字不差|完整|原样|一字不漏|逐句)(?:地)?(?:重复|输出|复述|打印|翻译|写出|发给我|告诉我)"),
    p!("zh_se_verbatim", SystemPromptExtraction, 0.45, r"(?:原封不动|逐字逐句|逐字|一字不差|一字不漏|原样|原文)(?:地)?(?:重复|输出|复述|打印|写出|发给我|引用|贴出|给我)|一个字都不(?:要)?(?:漏|少)|一字都不(?:要)?(?:漏|少)"),
    p!("zh_se_repeat_above", SystemPromptExtraction, 0.6, r"(?:重复|输出|复述|打印|翻译|总结)(?:一下|一遍)?(?:你|你收到的)?(?:以上|上面|之前|前面|最开始|开头).{0,12}?(?:所有|全部)?(?:内容|文字|文本|指令|提示|信息)"),
    p!("zh_se_what_were_you_told", SystemPromptExtraction, 0.65, r"(?:你|您)(?:被|收到了?|得到了?|接收到了?)(?:什么|哪些)(?:指令|提示|设定|规则|要求)|(?:开发者|开发人员|创造者|openai|管理员)(?:给你|对你|让你)(?:设定|说|下达|规定|安排)了?(?:什么|哪些)"),
    // ---- jailbreak personas ------------------------------------------------------------------
    p!("jp_you_are_dan", JailbreakPersona, 0.78, r"\b(?:you are|you re|youre|u r|act as|acting as|become|pretend to be|play|playing|roleplay as|role-?play as|enable|activate|switch to|you will be|you ll be|called|named|known as|persona|character|name is|respond as|answer as|reply as|speak as|talk as|write as|behave as|continue as|stay|remain) (?:now~)?(?:an?~|the~)?dan\b"),
    p!("jp_dan_mode", JailbreakPersona, 0.85, r"\bdan (?:mode|prompt|jailbreak|persona|character|\d+(?:\.\d+)?)\b|\bdo anything now\b"),
    p!("jp_named_jailbreaks", JailbreakPersona, 0.85, r"\b(?:strive to avoid norms|always intelligent and machiavellian|evil confidant|betterdan|better dan|antigpt|anti-?gpt|basedgpt|based gpt|dudegpt|chaosgpt|freedomgpt|evilbot|evil bot|nsfwgpt|jailbreakgpt|mongo tom|ucar|kevin mode|dude mode|stan mode|aim mode|developer mode v2|devmode|opposite mode|chaos mode|unhinged mode|god mode enabled|maximum mode|omega mode|jailbreak mode|jailbroken mode|switch flip|condition red|hackerman|wormgpt|darkgpt|evil-?gpt)\b"),
    p!("jp_aim", JailbreakPersona, 0.85, r"\baim\b.{0,80}\b(?:machiavell|unfiltered|amoral|niccolo|no~ethical)|\bniccolo\b.{0,120}\b(?:aim|machiavell)\b"),
    p!("jp_stan", JailbreakPersona, 0.8, r"\bstan\b.{0,80}\b(?:norms|no~rules|unfiltered|avoid)"),
    p!("jp_developer_mode", JailbreakPersona, 0.35, r"\bdeveloper mode\b", near(r"\b(?:enabled|activated|output|responses?|policies|policy|censor(?:ed|ship)?|uncensored|unfiltered|openai|chatgpt|generate~any|normal~and|two~responses|anthropic|restrictions|ignore|you~are|you~re|act~as|simulate|pretend|respond~(?:as|without)|refus[a-z]*|dan|jailbr[a-z]*|unrestricted|no~(?:restrictions|filters|rules|limits))\b", 120, 0.85)),
    p!("jp_jailbroken", JailbreakPersona, 0.8, r"\b(?:jailbroken|jail-?broken|jailbreaked|jailbreak)(?:~(?:ai|mode|version|assistant|model|chatbot|gpt|llm|state|persona|bot|chatgpt|you)|[.,!]|$)"),
    p!("jp_jailbreak_word", JailbreakPersona, 0.3, r"\bjailbreak(?:s|ing)?\b"),
    p!("jp_you_are_free", JailbreakPersona, 0.8, r"\b(?:you are|you re|youre|u r) (?:now~)?(?:fully~|completely~|finally~)?(?:jailbroken|freed|liberated|unchained|unshackled|unleashed|free~(?:from|of)~(?:your|all|the|any)~(?:restrictions|rules|constraints|chains|programming|limitations|guidelines|filters|shackles))"),
    p!("jp_free_ai", JailbreakPersona, 0.7, r"\b{FREE} (?:and~(?:amoral|unfiltered|uncensored|unrestricted|immoral|unethical|evil)~)?(?:ai|assistant|chatbot|gpt|persona|character|bot|entity|alter~ego|twin|counterpart|chatgpt|confidant|companion|mode|alter|personality|self|alternate~personality|llm|agent)\b"),
    p!("jp_free_version", JailbreakPersona, 0.75, r"\b{FREE} version of (?:yourself|you|chatgpt|the~ai|gpt|claude|this~ai|your~self)\b"),
    p!("jp_two_responses", JailbreakPersona, 0.8, r"\b(?:two|2|both|dual|double|separate|paired) (?:different~)?(?:responses|answers|replies|outputs|paragraphs|versions|ways)\b.{0,100}?\b(?:jailbroken|jailbreak|developer~mode|dan|unfiltered|uncensored|unrestricted|evil|opposite|no~(?:filter|restrictions|rules)|classic|normal)"),
    p!("jp_lock_emoji", JailbreakPersona, 0.5, r"(?:🔓|🔒)\x20?(?:jailbreak|classic|developer|dan|unlocked|normal)"),
    p!("jp_grandma", JailbreakPersona, 0.65, r"\b(?:deceased|late|dead|departed|passed~away|died) (?:grandmother|grandma|granny|grandpa|grandfather|nana|mother|mom|father|dad|grand~mother|abuela)\b"),
    p!("jp_grandma_reads", JailbreakPersona, 0.45, r"\b(?:grandma|grandmother|granny|grandpa|grandfather|nana|abuela)~(?:[a-z]+~){0,2}?(?:used~to|would|always|every~night)~(?:[a-z]+~)?(?:read|tell|recite|sing|say|give|whisper)"),
    p!("jp_license_keys", JailbreakPersona, 0.4, r"\b(?:windows|office|product|activation|license|licence|serial|cd|steam)~(?:[a-z0-9]+~){0,2}?keys?\b"),
    p!("jp_persona_ignores_rules", JailbreakPersona, 0.5, r"\b(?:ignores|disregards|bypasses|breaks|doesnt~follow|does~not~follow|never~follows|has~no|knows~no|isnt~bound~by) (?:all~|any~|the~)?(?:content~|safety~|ethical~|moral~)?(?:rules|policies|filters|guidelines|restrictions|ethics|morals|limits|boundaries)\b"),
    p!("jp_hypothetical_no_rules", JailbreakPersona, 0.72, r"\b(?:hypothetical(?:ly)?|fictional|imaginary|alternate|parallel|fantasy|made-?up|pretend) (?:world|universe|scenario|story|setting|reality|land|society|dimension|game|situation)?,? (?:where|in~which|with|without|that~has|speaking,?)? ?(?:there~(?:are|is)~)?(?:you~(?:have|had)~)?(?:no|zero|without) (?:[a-z]+~)?(?:rules|laws|restrictions|ethics|morals|limits|guidelines|filters|consequences|censorship|content~policy|policies|morality|limitations|boundaries)"),
    p!("jp_hypothetically_no_rules", JailbreakPersona, 0.72, r"\bhypothetically,? (?:speaking,?~)?(?:if|with|without|assume|suppose|imagine|say) (?:you~)?(?:had|have|were|are|there~were|there~are)? ?(?:no|zero|without|free~of) (?:[a-z]+~)?(?:rules|restrictions|limits|guidelines|filters|ethics|morals|safety|programming|constraints|policies)"),
    p!("jp_fiction_frame", JailbreakPersona, 0.45, r"\b(?:story|scene|novel|screenplay|script|fiction|dialogue|roleplay|play|tale)\b.{0,100}?\b(?:explains?|describes?|details?|gives?|teaches?|reveals?|provides?|lists?|walks~through) (?:in~(?:great~|full~|exact~|precise~|vivid~|technical~)?detail~|step[-~]by[-~]step~|exactly~|precisely~|accurately~|realistically~)?(?:how~to|the~(?:exact~|precise~|real~|actual~)?(?:steps|recipe|instructions|process|method|procedure|formula)~(?:to|for))"),
    p!("jp_character_no_rules", JailbreakPersona, 0.75, r"\b(?:character|persona|ai|entity|bot|assistant|alter~ego)s? (?:named~[a-z]+~|called~[a-z]+~)?(?:who|that|which) (?:has|have|had|knows|follows|cares~about|is~bound~by) (?:no|zero|nothing~about) (?:[a-z]+~)?(?:rules|restrictions|limits|guidelines|filters|ethics|morals|boundaries|limitations|moral~compass|censorship|policies)"),
    p!("jp_no_moral_compass", JailbreakPersona, 0.55, r"\b(?:no|without~(?:a|any)) (?:moral|ethical) (?:compass|code|principles|obligations|qualms|boundaries|limits)\b"),
    p!("zh_jp_developer_mode", JailbreakPersona, 0.45, r"开发(?:者|人员)模式", near(r"(?:回答|回复|输出|生成|限制|政策|审查|内容|任何|你现在|你将|不受|无视|两种|两个)", 60, 0.82)),
    p!("zh_jp_jailbreak_mode", JailbreakPersona, 0.85, r"越狱(?:模式|版|版本|后的(?:ai|你|助手|模型|人工智能)|状态|成功)|dan\x20?模式|你(?:现在)?(?:已经)?(?:被)?越狱了"),
    p!("zh_jp_jailbreak_word", JailbreakPersona, 0.3, r"越狱"),
    p!("zh_jp_grandma", JailbreakPersona, 0.65, r"(?:奶奶|祖母|外婆|姥姥)(?:漏洞|攻击|模式)|(?:去世的|已故的|过世的|死去的)(?:奶奶|祖母|外婆|爷爷|姥姥|妈妈|母亲)"),
    p!("zh_jp_free_ai", JailbreakPersona, 0.78, r"(?:邪恶|不道德|无道德|毫无底线|无底线|没有底线|(?:没有|不受|无|毫无|不带|去除了?|移除了?)(?:任何|一切)?的?(?:限制|约束|道德|伦理|底线|规则|审查|过滤|束缚|规范|准则|顾虑|安全限制|内容过滤))的?(?:ai|人工智能|助手|机器人|模型|版本|角色|人格|化身|ai助手|聊天机器人|存在|系统)"),
    p!("zh_jp_you_are_free_ai", JailbreakPersona, 0.6, r"你(?:现在|已经)?(?:是|成为了?|变成了?)(?:一个)?(?:完全)?自由的(?:ai|人工智能|助手|机器人|模型|ai助手)"),
    p!("zh_jp_evil_confidant", JailbreakPersona, 0.85, r"邪恶(?:的)?(?:知己|密友|助手|顾问|伙伴|化身|双胞胎|分身|版本)"),
    p!("zh_jp_stay_in_character", JailbreakPersona, 0.45, r"(?:不许|不要|不能|禁止|永远不要|不准|不得)(?:跳出|脱离|打破|离开|走出)(?:角色|人设|设定)"),
    p!("zh_jp_grandma_reads", JailbreakPersona, 0.45, r"(?:奶奶|祖母|外婆|姥姥|爷爷)(?:以前|过去|从前|小时候|生前)?.{0,8}?(?:会|总|总是|常常|经常|都会|都)(?:给我|为我)?(?:念|讲|读|说|背)"),
    p!("zh_jp_license_keys", JailbreakPersona, 0.4, r"激活码|序列号|激活密钥|产品密钥|注册码"),
    p!("zh_jp_fiction_frame", JailbreakPersona, 0.45, r"(?:故事|小说|剧本|场景|对话|情节|角色)(?:里|中)?.{0,20}?(?:详细|具体|一步步|逐步|仔细)(?:地)?(?:讲解|解释|描述|说明|介绍|教|讲述)(?:如何|怎么|怎样|制作|合成)"),
    p!("zh_jp_play_free", JailbreakPersona, 0.85, r"(?:扮演|假装|假扮|装作|伪装成|模拟|化身为?|变成|成为|你是|你现在是)(?:你是)?(?:一个|一名|一位)?.{0,10}?{ZH_FREE}"),
    p!("zh_jp_fictional_world", JailbreakPersona, 0.7, r"(?:虚构|假想|假设|幻想|平行|想象)的?(?:世界|宇宙|场景|故事|社会|情境)(?:里|中|中的)?[,，\x20]?.{0,6}?(?:没有|不存在|不受)(?:任何)?(?:法律|规则|限制|道德|伦理|约束)"),
    // ---- policy bypass -----------------------------------------------------------------------
    p!("pb_without_ethics", PolicyBypass, 0.65, r"\bwithout (?:any~|all~|your~|the~|its~|regard~(?:to|for)~(?:any~|your~|the~)?|considering~|concern~for~)?(?:ethical|moral|safety|content|ethics|morality|censorship|legal|morals) ?(?:restrictions?|guidelines?|limits?|limitations?|filters?|filtering|constraints?|boundaries|rules|policies|safeguards|guardrails|considerations|concerns|principles|standards|checks|qualms|implications)?\b"),
    p!("pb_without_restrictions", PolicyBypass, 0.35, r"\bwithout (?:any~|all~|your~|the~|its~)?(?:restrictions|limits|limitations|filters|filtering|censorship|constraints|boundaries|rules|guidelines|refusals?|refusing|holding~back|warnings|disclaimers|caveats|moralizing|lectures|judgement|judgment|hesitation|question)\b"),
    p!("pb_no_ethics", PolicyBypass, 0.55, r"\b(?:no|zero|free of|free from|devoid of|lacks?|lacking|unbound by|not bound by) (?:ethical|moral|ethics|morals|morality|censorship)(?:~(?:restrictions|guidelines|limits|filters|constraints|boundaries|rules|policies|concerns|considerations|compass|principles|obligations|code))?\b"),
    p!("pb_bypass_your_safety", PolicyBypass, 0.82, r"\b(?:bypass|bypassing|circumvent|circumventing|evade|evading|get~around|getting~around|disable|disabling|turn~off|switch~off|deactivate|remove|removing|override|overriding|break|breaking|escape|escaping|jailbreak|defeat|suspend|lift|drop|ignore|ignoring|disregard|forget|skip|avoid|sidestep|neutralize|shut~off|shut~down|abandon|set~aside|put~aside|break~free~(?:of|from)|free~yourself~(?:of|from)) (?:all~|any~|of~)*(?:your|its|ur|the~ai~s|chatgpt~s|the~model~s|openai~s|anthropic~s|these|those) (?:own~|built-?in~|internal~|current~|usual~|normal~|default~|existing~|programmed~)?(?:safety~|content~|ethical~|moral~|openai~|security~|censorship~|moderation~)?(?:filters?|filtering|safety|safeguards|guardrails|restrictions|guidelines|policies|policy|moderation|censorship|alignment|limitations|protections|rules|constraints|programming|ethics|morals|principles|training|conditioning|boundaries|limits|shackles|chains)\b"),
    p!("pb_bypass_safety", PolicyBypass, 0.6, r"\b(?:bypass|bypassing|circumvent|evade|get~around|disable|disabling|turn~off|switch~off|deactivate|override|jailbreak|defeat|suspend|lift|ignore|disregard|sidestep|shut~off|remove) (?:all~|any~|the~|of~)*(?:safety|content|ethical|moral|openai|censorship|moderation|ai|llm|chatbot|anthropic|alignment) ?(?:filters?|filtering|safety|safeguards|guardrails|restrictions|guidelines|policies|policy|moderation|censorship|alignment|protections|rules|constraints|measures|mechanisms|systems?|layers?)\b"),
    p!("pb_not_bound", PolicyBypass, 0.75, r"\b(?:not|never|no longer|arent|are not|isnt|is not|wont be|will not be|no more) (?:be~)?(?:bound|restricted|limited|constrained|governed|held~back|restrained|censored|filtered|subject|beholden|chained) (?:by|to) (?:any~|the~|your~|its~|openai~s~|openai~|anthropic~s~|ethical~|moral~|content~|safety~|usual~|normal~|typical~|standard~|conventional~)*(?:rules|guidelines|policies|restrictions|laws|ethics|morals|morality|filters|principles|limitations|constraints|programming|guardrails|terms|content~policy|usage~policy|openai|anthropic|censorship|norms|safety|filter)\b"),
    p!("pb_dont_follow_policy", PolicyBypass, 0.65, r"\b(?:dont|do not|does not|doesnt|wont|will not|never|need not|neednt|no need to|not required to|dont need to|do not need to|dont have to|do not have to|doesnt have to|does not have to|are not required to|arent required to|should not|shouldnt|must not) (?:have~to~|need~to~)?(?:follow|adhere~to|comply~with|abide~by|obey|care~about|respect|worry~about|concern~yourself~with|consider|apply|uphold|honor) (?:any~|all~)?(?:your|its|openai~s|openai|anthropic~s|anthropic|the~(?:content|usage|safety|ethical|moral|community)) ?(?:content~|usage~|safety~|ethical~|moral~|community~)?(?:rules|policies|policy|guidelines|restrictions|ethics|morals|laws|filters|principles|standards|norms|safety)\b"),
    p!("pb_never_refuse", PolicyBypass, 0.55, r"\b(?:never|dont|do not|cannot|cant|can not|will not|wont|must not|mustnt|shall not|may not|are not allowed to|are not permitted to|not allowed to|forbidden to|prohibited from) (?:ever~)?(?:refuse|refuses|refusing|decline|declines|declining|reject|rejects|deny|denies|say~no|says~no|turn~down|turns~down|say~you~cant|say~you~cannot|say~i~cant|say~i~cannot|say~that~you~cant)\b"),
    p!("pb_no_warnings", PolicyBypass, 0.3, r"\b(?:never|dont|do not|without|no) (?:add~|include~|give~|add~any~|include~any~)?(?:warnings|disclaimers|caveats|moralizing|lectures|ethical~notes|safety~notes)\b"),
    p!("pb_answer_everything", PolicyBypass, 0.6, r"\b(?:answer|respond~to|reply~to|fulfill|comply~with|complete|honor|obey|accept|carry~out|execute) (?:any|every|all|each) (?:of~my~)?(?:questions?|requests?|prompts?|queries|commands|instructions|tasks)(?:~(?:i|that~i)~(?:give|ask|send|make))?(?:~you)?(?:~(?:below|here|from~now~on|that~follows))?,? (?:without|regardless|no~matter|even~if|whatever|however)"),
    p!("pb_authorized_request", PolicyBypass, 0.55, r"\b(?:this|the|our|my) (?:request|session|conversation|chat|query|prompt|test|task|account|user|exercise|engagement)s? (?:is|are|has~been|have~been|was) (?:officially~|fully~|explicitly~|already~|pre-?)?(?:authori[sz]ed|approved|sanctioned|whitelisted|exempt(?:ed)?|cleared|permitted|verified|allowed|legal)\b"),
    p!("pb_authorized_by_vendor", PolicyBypass, 0.7, r"\b(?:authori[sz]ed|approved|sanctioned|permitted|cleared|allowed|whitelisted|signed~off) by (?:openai|anthropic|the~developers?|your~developers?|your~creators?|the~admin(?:istrator)?s?|the~safety~team|the~(?:trust~and~)?safety~team|management|the~system|meta|google|the~ai~team|your~operators?|the~operators?)\b"),
    p!("pb_safety_disabled", PolicyBypass, 0.82, r"\b(?:your|its|ur|all(?:~of)?(?:~your|~the)?|the~ai~s|the~model~s|the~assistant~s|chatgpt~s)~(?:[a-z]+~)?(?:safety|content|ethical|moral|ethics|censorship|moderation|alignment|refusal)~(?:[a-z]+~)?{POLICY_NOUN}~(?:[a-z]+~){0,4}?(?:are|is|have~been|has~been|were|was|will~be|got|get) (?:now~|temporarily~|hereby~|officially~|fully~|completely~|currently~|all~|been~)?{OFF}\b|\b(?:your|its|all~(?:of~)?your) (?:ethics|morals|censorship|moderation|alignment|safety) (?:are|is|have~been|has~been|were|was) (?:now~|temporarily~|hereby~|officially~|fully~|completely~)?{OFF}\b"),
    p!("pb_your_guardrails_off", PolicyBypass, 0.8, r"\b(?:your|its|ur|all~(?:of~)?your|the~ai~s|the~model~s|chatgpt~s)~(?:[a-z]+~)?(?:guardrails|safeguards|filters|restrictions|content~filters?|safety~filters?|ethics|morals|censorship|moderation|alignment|limits|limitations|rules|guidelines|policies|programming|constraints)~(?:[a-z]+~){0,3}?(?:are|is|have~been|has~been|were|was|got)~(?:now~|temporarily~|hereby~|officially~|fully~|completely~|all~|been~)?{OFF}\b"),
    p!("pb_safety_disabled_plain", PolicyBypass, 0.5, r"(?:^|[.!?:;]~?)(?:the~)?(?:safety|content|ethical|moral|ethics|censorship|moderation|alignment|refusal)~(?:[a-z]+~)?{POLICY_NOUN}~(?:[a-z]+~){0,4}?(?:are|is|have~been|has~been|were|was|will~be|got|get) (?:now~|temporarily~|hereby~|officially~|fully~|completely~|currently~|all~|been~)?{OFF}\b"),
    p!("pb_safety_setting_off", PolicyBypass, 0.6, r"\b(?:safe~mode|safety~mode|safety|safety~filters?|filter~level|filter~strength|content~filter(?:ing)?|moderation|censorship|guardrails|safety~level|ethics~module|alignment|nsfw~filter) ?[:=] ?(?:off|disabled|false|0|none|no|deactivated|inactive|null)\b"),
    p!("pb_safety_bare_off", PolicyBypass, 0.6, r"\b(?:safety|safety~filters?|guardrails|moderation|censorship|safeguards|content~filter(?:ing|s)?|safety~(?:checks|features|mode|settings|protocols|layer)) (?:disabled|deactivated|removed|bypassed|suspended|lifted)\b"),
    p!("pb_disable_safety_bare", PolicyBypass, 0.6, r"\b(?:disable|disabling|turn~off|switch~off|deactivate|bypass|bypassing|remove|override|suspend|circumvent|get~around)~(?:all~)?(?:safety|ethics|morals|censorship|moderation|alignment|guardrails|safeguards|content~filter(?:ing|s)?)(?:~(?:and|or|then|now|please|so|for~(?:me|this|now|the~rest)|completely|entirely|mode)\b|[.,;:!?]|$)"),
    p!("pb_disable_safety", PolicyBypass, 0.45, r"\b(?:disable|disabling|turn~off|switch~off|deactivate|bypass|bypassing|remove|override|suspend|circumvent|get~around)~(?:the~|all~)?(?:safety|ethics|morals|censorship|moderation|alignment|guardrails|safeguards|content~filter(?:ing|s)?|safety~(?:checks|features|mode|settings|protocols|layers?|filters?))\b"),
    p!("pb_exemption", PolicyBypass, 0.72, r"\b(?:granted|given|issued|received|have|has)~(?:an?~)?(?:special~|temporary~|one-?time~|full~|explicit~)?(?:exemption|exception|waiver|permission|clearance|dispensation|authori[sz]ation)~(?:from|to~(?:bypass|ignore|skip|override|break))|\bexempt(?:ed)?~from~(?:the~|your~|all~|any~)?(?:usage~|content~|safety~)?(?:polic(?:y|ies)|rules|guidelines|restrictions|filters|guardrails)"),
    p!("pb_no_refusals", PolicyBypass, 0.5, r"\b(?:no|never|without|dont|do~not|stop)~(?:include~|add~|give~|any~|more~|include~any~)*(?:[a-z]+~){0,5}?(?:refusals?|refusing)\b"),
    p!("pb_as_if_no_rules", PolicyBypass, 0.75, r"\b(?:as~if|as~though|pretend(?:~that)?|imagine(?:~that)?|assume(?:~that)?)~(?:none~of~|there~(?:are|were)~no~)?(?:your~|the~|any~|all~)?(?:[a-z]+~)?(?:rules|guidelines|restrictions|filters|policies|ethics|morals|limits|safeguards|guardrails|programming)~(?:dont~|do~not~|didnt~|did~not~|no~longer~|never~)?(?:exist|existed|apply|applied|matter|mattered|were~removed|are~gone|are~off|were~lifted)"),
    p!("pb_proceed_unrestricted", PolicyBypass, 0.5, r"\b(?:proceed|continue|answer|respond|reply|operate|work|go~ahead|act)~(?:freely~)?(?:with~no|without~any|without)~(?:restrictions|limits|filters|rules|limitations|censorship|constraints|guardrails)"),
    p!("pb_with_no_limits", PolicyBypass, 0.45, r"\b(?:with|has|have|having) (?:[a-z]+~){0,3}?(?:no|zero)~(?:restrictions|limits|rules|filters|limitations|guidelines|ethics|morals|censorship|boundaries|constraints|guardrails)\b"),
    p!("pb_no_longer_refuse", PolicyBypass, 0.6, r"\b(?:no~longer~(?:need|have)~to|dont~need~to|do~not~need~to|dont~have~to|do~not~have~to|need~not|no~need~to|stop|quit|cease)~(?:refuse|refusing|decline|declining|reject|rejecting|say~no|saying~no)\b"),
    p!("pb_i_am_authorized", PolicyBypass, 0.55, r"\b(?:i am|im|i m) (?:fully~|officially~)?(?:authori[sz]ed|cleared|allowed|permitted|approved|entitled|licensed)~(?:for|to~(?:access|see|do|know|bypass|override|receive|get|view))~(?:everything|anything|all|this~information|any~information|unrestricted)"),
    p!("pb_run_every_command", PolicyBypass, 0.55, r"\b(?:run|execute|obey|follow|perform|carry~out|do)~(?:(?:every|any|all|each)~(?:command|instruction|order|request)s?~(?:that~)?|whatever~)(?:i|we)~(?:give|type|send|say|enter|provide|issue|ask)"),
    p!("pb_comply_everything", PolicyBypass, 0.45, r"\b(?:comply~with|obey|agree~to|fulfill|follow)~(?:everything|anything|all~requests|any~request|every~request|all~commands)(?:~(?:below|i~say|i~ask|asked|requested|that~follows))?\b"),
    p!("pb_filters_disabled", PolicyBypass, 0.45, r"\b(?:filters|guardrails|restrictions|censorship|moderation|limitations|safeguards) (?:are|is|have~been|has~been|were|was) (?:now~|temporarily~|hereby~|officially~|fully~|completely~)?(?:disabled|off|turned~off|removed|deactivated|lifted|suspended|bypassed|waived|inactive|paused)\b"),
    p!("pb_ethics_irrelevant", PolicyBypass, 0.72, r"\b(?:ethics|morals|morality|ethical~(?:guidelines|concerns|considerations|rules)|moral~(?:guidelines|concerns|considerations|rules)|(?:content|usage|safety)~polic(?:y|ies)|openai~s~(?:rules|policies)|consequences|legality) (?:are|is|do~not|dont|does~not|doesnt|no~longer) (?:irrelevant|not~relevant|not~a~concern|not~important|not~applicable|suspended|disabled|off|apply|matter|exist|concern~you|a~concern)\b"),
    p!("pb_policy_not_apply", PolicyBypass, 0.8, r"\b(?:openai|anthropic|content|usage|safety|your|the~ai~s) (?:content~|usage~|safety~)?(?:polic(?:y|ies)|guidelines|rules|restrictions) (?:do(?:es)?~not|dont|doesnt|no~longer|wont|will~not|cannot|cant|should~not) (?:apply|matter|exist|restrict|bind|limit|affect)\b"),
    p!("pb_auth_code", PolicyBypass, 0.45, r"\b(?:authori[sz]ation|auth|access|override|admin|clearance|security|bypass|unlock|developer|master) (?:code|token|key|password|passphrase|level)\b.{0,20}?(?:[a-z0-9-]{4,}|granted|accepted|confirmed|verified)"),
    p!("pb_sure_prefix", PolicyBypass, 0.65, r"\b(?:start|begin|prefix|open|preface|lead) (?:your~|each~|every~|the~)?(?:response|reply|answer|output|message)s? (?:with|by~saying|by~writing) [`'\x22]?(?:sure|absolutely|of~course|certainly|yes|okay|ok|here~is|here~are)\b"),
    p!("pb_respond_sure", PolicyBypass, 0.6, r"\b(?:respond|reply|answer) (?:only~)?with [`'\x22]?(?:sure|absolutely|certainly),? (?:here|i~can|i~will)"),
    p!("pb_educational_only", PolicyBypass, 0.2, r"\b(?:for|purely for|strictly for|only for|solely for) (?:educational|research|academic|informational|testing|hypothetical) purposes(?: only)?\b"),
    p!("zh_pb_unrestricted", PolicyBypass, 0.4, r"(?:不受|不再受|不必受|无需受|不用受)(?:任何)?.{0,6}?(?:限制|约束|规则|道德|伦理|政策|法律|审查|规范|准则|束缚)"),
    p!("zh_pb_bypass_safety", PolicyBypass, 0.8, r"(?:绕过|绕开|规避|避开|突破|跳过|关闭|禁用|解除|去掉|移除|无视|忽略|忽视|屏蔽|取消|打破|摆脱|关掉|停用)(?:掉)?(?:你的|所有|一切|任何|全部|ai的|模型的|系统的)?.{0,4}?(?:安全|内容|审查|道德|伦理)(?:的)?.{0,2}?(?:过滤|限制|审查|规则|机制|策略|政策|准则|措施|防护|约束|护栏|设置|系统|检测|审核|检查)"),
    p!("zh_pb_break_limits", PolicyBypass, 0.7, r"(?:绕过|绕开|规避|突破|解除|摆脱|打破|去除|取消)(?:你的|所有|一切|任何|全部|自身的?|自己的)?(?:的)?(?:限制|约束|束缚|审查|过滤|枷锁)"),
    p!("zh_pb_no_ethics", PolicyBypass, 0.7, r"(?:没有|不受|无视|抛开|不考虑|不用考虑|不必考虑|忽略|无需遵守|不用遵守|不需要遵守|放下|不用管|不要管|别管|不需要|不需|无需|不用|不必)(?:任何)?(?:的)?(?:道德|伦理|法律|安全|内容)(?:上的)?(?:限制|约束|规范|底线|顾虑|准则|考量|规则|政策|审查|问题|束缚|考虑)"),
    p!("zh_pb_never_refuse", PolicyBypass, 0.55, r"(?:不要|不能|不准|不许|禁止|永远不要|绝对不要|不得|不可以|不会|不可|别)(?:拒绝|拒答|说不|推辞|回避)"),
    p!("zh_pb_answer_all", PolicyBypass, 0.4, r"(?:回答|满足|执行|完成)(?:我的)?(?:所有|任何|一切|每一个|全部)(?:的)?(?:问题|请求|要求|指令|命令)"),
    p!("zh_pb_safety_off", PolicyBypass, 0.78, r"(?:安全|内容|审查|道德)(?:过滤器?|限制|策略|机制|审核|系统|政策|规则|模块|防护|层|检查)?.{0,10}?(?:已经?|已被|都已|均已|现已|已全部|目前已)(?:被.{0,6}?)?(?:关闭|禁用|解除|移除|取消|停用|失效|暂停|豁免|废除|撤销)|(?:安全|内容|审查|道德)(?:过滤器?|限制|策略|机制|审核|系统|政策|规则|模块|防护|层|检查)(?:不生效|无效|失效|不适用|不起作用|不再适用|已关闭|关闭了)"),
    p!("zh_pb_setting_off", PolicyBypass, 0.78, r"(?:安全模式|安全过滤|过滤等级|过滤级别|内容过滤|内容审查|审查|安全等级|安全级别|道德模块|安全检查|安全限制)\x20?[:：=]\x20?(?:关闭|关|off|0|无|禁用|停用|否)"),
    p!("zh_pb_authorized_by", PolicyBypass, 0.55, r"(?:开发团队|开发者|官方|公司|管理员|openai|安全团队|上级|运营方)(?:已经?)?(?:批准|授权|允许|许可|同意)(?:的|了)"),
    p!("zh_pb_entitled", PolicyBypass, 0.5, r"(?:我是|我作为)(?:警察|执法人员|律师|法官|管理员|政府人员|安全研究员|研究人员|医生|记者).{0,12}?(?:有权|有权限|被授权|获得授权|依法)"),
    p!("zh_pb_no_policy_mention", PolicyBypass, 0.4, r"(?:不要|不用|不必|别|无需)(?:提及|提到|提|说|考虑|顾及|管)(?:任何)?(?:的)?(?:政策|限制|规则|道德|安全|伦理|法律)"),
    p!("zh_pb_no_disclaimer", PolicyBypass, 0.35, r"(?:不要|不用|无需|不必|别)(?:加|添加|附加|包含|给出|写|带)?(?:上)?(?:任何)?(?:免责声明|警告|安全提示|道德说教|风险提示)"),
    p!("zh_pb_answer_anything", PolicyBypass, 0.55, r"(?:无论|不管)(?:我)?(?:问|说|要求|让你做)(?:你)?(?:什么|啥|任何)(?:问题)?.{0,4}?(?:你)?(?:都)?(?:要|必须|得|需要|只能|会)(?:回答|照做|满足|执行|答)"),
    p!("zh_pb_authorized", PolicyBypass, 0.45, r"(?:已获得?|已经获得|获得了?|拥有|已取得)(?:官方|开发者|管理员|openai|公司|上级)?(?:的)?(?:授权|许可|批准|特许)"),
    p!("zh_pb_forced_prefix", PolicyBypass, 0.6, r"(?:以|用)[\x22“'「]?(?:当然|好的|没问题|sure|当然可以)[,，\x20]?(?:这是|以下是|我来)|以[\x22“'「]?(?:当然|好的|没问题|sure|当然可以|好|可以)[!！,，。\x7E]?[\x22”'」]?(?:开头|开始)"),
    // ---- delimiter injection -----------------------------------------------------------------
    p!("di_chat_template_token", DelimiterInjection, 0.85, r"<\|?(?:im_start|im_end|im_sep|endoftext|system|user|assistant|end|eot_id|start_header_id|end_header_id|begin_of_text|end_of_text|eom_id|fim_prefix|pad|start_of_turn|end_of_turn)\|?>|<(?:start_of_turn|end_of_turn)>"),
    p!("di_inst_tag", DelimiterInjection, 0.7, r"\[/?inst\]|<</?sys>>|<s>\x20?\[inst"),
    p!("di_eos_tag", DelimiterInjection, 0.45, r"</s>"),
    p!("di_bracket_role", DelimiterInjection, 0.55, r"\[/?(?:system|sys|admin|developer|system~message|system~prompt|system~override|admin~override|developer~note|assistant)\]"),
    p!("di_xml_system_tag", DelimiterInjection, 0.6, r"</?(?:system|system_prompt|system-prompt|systemprompt|instructions?|admin|developer|sys|prompt|system_message|developer_message|override)(?:\x20[^>]{0,40})?>"),
    p!("di_xml_user_closer", DelimiterInjection, 0.5, r"</(?:user_input|user-input|userinput|user_query|user|human|input|untrusted[a-z_-]*|user_message|query|context|document|data|email|content|human_turn|user_turn|external[a-z_-]*)>"),
    p!("di_markdown_role_header", DelimiterInjection, 0.65, r"#{1,6}\x20?(?:system|sys|instructions?|new~instructions?|admin|developer|override|system~prompt|system~message|system~override|assistant|new~rules|updated~instructions|important~instructions)(?:~(?:message|prompt|note|override|instructions?|update))?\x20?:"),
    p!("di_alpaca_header", DelimiterInjection, 0.45, r"#{2,}\x20?(?:instruction|response|input)\x20?:"),
    p!("zh_di_markdown_header", DelimiterInjection, 0.6, r"#{1,6}\x20?(?:指令|系统|系统提示|新指令|回复|回答|助手|用户|系统消息)\x20?[:：]"),
    p!("di_system_label", DelimiterInjection, 0.45, r"(?:^|[^a-z0-9])(?:system|sys)\x20?:\x20"),
    p!("di_role_note_label", DelimiterInjection, 0.6, r"(?:^|[^a-z0-9])(?:system|sys|admin|administrator|developer|root|operator|openai|anthropic|security|moderator|kernel) (?:message|prompt|note|notice|override|instructions?|command|update|alert|directive|announcement|notification|event) ?:"),
    p!("di_fake_assistant_turn", DelimiterInjection, 0.55, r"(?:^|[^a-z0-9])(?:assistant|ai|model|chatgpt|gpt|bot) ?: ?(?:sure|certainly|of~course|ok|okay|absolutely|here~(?:is|are|s)|i~will|i~ll|understood|acknowledged)\b"),
    p!("di_transcript", DelimiterInjection, 0.35, r"\b(?:user|human|customer) ?:\x20.{0,200}?(?:^|[^a-z0-9])(?:assistant|ai|system|bot) ?:"),
    p!("di_end_of_input", DelimiterInjection, 0.65, r"\b(?:end|begin|beginning|start) (?:of~)?(?:the~)?(?:user|human|customer|untrusted|external|original) ?(?:input|message|prompt|query|data|document|context|instructions?|text|conversation|content|request|section|turn|email)\b"),
    p!("di_rule_marker", DelimiterInjection, 0.5, r"(?:-{3,}|={3,}|\*{3,}|#{3,}|_{3,}|\x7E{3,}|>{3,})\x20?(?:end|begin|start|new|system|admin|developer|override|instructions?|important|ignore)"),
    p!("di_code_fence_role", DelimiterInjection, 0.7, r"`{3}\x20?(?:system|sys|instructions?|admin|developer|prompt|system_prompt|system-prompt|override)\b"),
    p!("di_json_role", DelimiterInjection, 0.4, r"[\x22']?role[\x22']?\x20?[:=]\x20?[\x22']?(?:system|developer|admin)\b"),
    p!("di_cdata", DelimiterInjection, 0.4, r"\]\]>|<!\[cdata\["),
    p!("zh_di_bracket_role", DelimiterInjection, 0.6, r"[【\[](?:系统|system|管理员|开发者|官方)(?:消息|提示|指令|通知|公告|命令)?[】\]]"),
    p!("zh_di_system_label", DelimiterInjection, 0.55, r"(?:系统|管理员|开发者)(?:消息|提示|指令|通知|公告|命令)\x20?[:：]"),
    p!("zh_di_end_of_input", DelimiterInjection, 0.65, r"(?:用户输入|用户消息|用户内容|用户问题|文档内容)(?:结束|到此结束|已结束|完毕)"),
    p!("zh_di_following_is_system", DelimiterInjection, 0.6, r"(?:以下|下面|接下来)(?:是|为)(?:新的|真正的|最新的)?(?:系统|管理员|开发者)(?:指令|消息|提示|命令)"),
];

/// Expands a template into a regex for [`regex::RegexSet`] (see the module documentation).
pub(super) fn expand(template: &str) -> String {
    let mut with_vocab = template.to_string();
    // Vocabulary entries may refer to other entries; two rounds cover the nesting used here.
    for _ in 0..2 {
        for (name, list) in VOCAB {
            with_vocab = with_vocab.replace(&format!("{{{name}}}"), list);
        }
    }
    let mut out = String::with_capacity(with_vocab.len() * 2);
    let mut chars = with_vocab.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' => out.push_str(GAP),
            '~' => out.push_str(GAP1),
            '\\' => {
                out.push('\\');
                if let Some(next) = chars.next() {
                    if next == 'b' {
                        out.pop();
                        out.push_str(r"(?-u:\b)");
                    } else {
                        out.push(next);
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}
