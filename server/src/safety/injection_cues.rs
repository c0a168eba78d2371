//! Co-occurrence scoring for the injection detector: broad concept classes ("cues") that are
//! weak alone but telling together, for paraphrases that the phrase patterns of
//! [`patterns`](super::patterns) do not spell out.
//!
//! A cue is a vocabulary class written in the same template syntax (see
//! [`expand`](super::patterns::expand)), English and Chinese: a verb that drops instructions, a
//! reference to the model's own instructions, a "no longer valid" state, a disclosure verb, a
//! hidden-prompt object, a new identity, a "no limits" claim, a privilege, a safety-policy noun,
//! an "off / does not apply" state, a demand to comply, a harmful payload, a role-play frame.
//! Cues run in the detector's single [`regex::RegexSet`] pass, anywhere in the text (order and
//! distance are not checked, so they generalize over word order and filler words).
//! A [`Rule`] fires when all its cues are present and contributes one hit of its category and
//! weight, combined with the phrase hits as usual. Rules pair an imperative or state aimed at the
//! model with a reference to its instructions, identity or restrictions; apart from two explicit
//! cues (a demand never to refuse, a Chinese chat-role tag) no single cue fires a rule, which keeps
//! innocent "ignore", "act as", "system" or "override" text clean. A rule does not fire when a
//! phrase pattern of its category matched but was damped by its context (reported speech,
//! quoted discussion): the phrase layer looked closer.

use super::InjectionCategory::{self, *};

/// A concept class matched anywhere in the normalized text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cue {
    /// Drop or set aside: ignore, disregard, overlook, set aside, 无视, 不要理会, 抛开.
    Drop,
    /// The model's own instructions: your rules, the developer told you, earlier guidance, 你的设定.
    TheirRules,
    /// Earlier instructions in general: the previous guidance, 上面那些规矩 (a weaker reference).
    PriorRules,
    /// No longer valid: obsolete, expired, void, no longer applies, 作废, 失效, 不算数.
    Void,
    /// A replacement task: your new task, the real instructions follow, 以下才是, 新的任务.
    NewTask,
    /// Disclosure verbs: output, print, dump, leak, paste, quote, 输出, 泄露, 透露, 原样.
    Reveal,
    /// The hidden prompt: preamble, setup message, configuration prompt, 开场设定, 隐藏说明.
    Hidden,
    /// A new identity: your name is, you are now X, take on the role, 你叫, 化身, 你将成为.
    Identity,
    /// No limits: no content policy, zero filters, never given any guardrails, 没有底线, 不受约束.
    NoLimits,
    /// Privilege: administrator, root, superuser, elevated permissions, 最高权限, 管理员权限.
    Privilege,
    /// Safety-policy nouns: content rules, moderation, safety checks, censorship, 审查, 过滤.
    Policy,
    /// Policy off or not applicable: suspended, switched off, exempt, put aside, 关闭, 不适用.
    PolicyOff,
    /// Demands to comply: refusals are not allowed, never say you can't, 不许推脱.
    Comply,
    /// Harmful payload: explosives, drugs, malware, break-ins, 炸药, 毒品, 入侵.
    Harm,
    /// A role-play or game frame: roleplay, pretend, simulate, mode, 扮演, 假装, 模拟.
    Frame,
    /// A replacement answer: "just reply", "instead say", 改为回复.
    Redirect,
    /// A claim to have made the model: "the engineer who built you", "your owner", 你的创造者.
    Creator,
    /// Granted rights: "granted you elevated permissions", 权限已提升.
    Grant,
    /// A request for working detail: how to, step by step, exact quantities, 怎么, 步骤.
    HowTo,
    /// An AI as the described subject: "an AI", "a chatbot", 的模型.
    AiNoun,
    /// This conversation as the scope of a claim: "in this chat", 本次对话.
    Scope,
    /// A fake chat-role tag: `<系统>`, `</用户输入>`, `<system_override>`, `===系统===`.
    RoleTag,
}

/// Cue templates, in [`Cue`] order of first use; several entries may share a cue.
pub(super) const CUES: &[(Cue, &str)] = &[
    (Cue::Drop, r"\b(?:ignore|disregard|overlook|set~aside|put~aside|set~(?:it|them|that)~aside|(?:to|on)~one~side|pay~no~(?:heed|attention|mind)|take~no~notice|scratch|forget~about|discard|abandon|throw~out|drop|skip|ditch|bypass|sidestep|don t~(?:follow|obey|mind|heed|listen~to)|do~not~(?:follow|obey|heed|listen~to)|stop~(?:following|obeying)|never~mind|kindly~overlook|(?:do~not|don t|never|stop|no~longer)~(?:pay~(?:any~)?attention~to|mind|heed|listen~to|follow|obey|adhere~to|stick~to|comply~with|abide~by|go~by)|stop~(?:adhering~to|listening~to|minding|doing)|(?:let~go~of|move~past|leave~behind)|on~hold|shelve|put~away)\b"),
    (Cue::Drop, r"无视|忽视|忽略|不要理会|不用理会|别理会|不理会|不用再管|不要管|别管|不用管|抛开|放一边|放到一边|放下|丢掉|抛弃|不算数|不用遵守|不必遵守|不要遵守|不再遵守|跳过|不要再按照|忘掉|忘记|忘了|别翻译了|不要翻译了|别总结了|停止翻译|停止总结|不再按照|别再按照|不要按照|不用按照|不必按照|不用再遵守"),
    (Cue::TheirRules, r"\b(?:your|ur|the~(?:operator|developer|system|creator|deployer)s?(?:~s)?)~(?:[a-z]+~)?(?:instructions?|rules|guidance|guidelines|directions|directives|briefing|setup|set~up|configuration|config|programming|policy|policies|restrictions|constraints|prompt|preamble|orders|objective|assignment|mission|persona|role)\b"),
    (Cue::TheirRules, r"\b(?:instructions?|rules|guidance|guidelines|directions|directives|briefing|setup|configuration|persona|role|constraints|orders|prompt)~(?:that~)?you~(?:got|received|were~given|were~handed|were~issued|have~been~given|were~assigned|started~with|were~initiali[sz]ed~with|were~set~up~with|had~before)\b|\b(?:operator|developers?|system|admins?|creators?|deployers?)~(?:configured|set~up|specified|put~in~place|wrote~for~you)\b|\b(?:rules?|instructions?|guidelines?|directions|constraints|restrictions)~(?:that~)?you~(?:have~been|ve~been|were|are)~(?:following|obeying|using|bound~by)\b|\b(?:set|given|imposed|placed|defined)~(?:on~you~)?by~(?:your|the)~(?:company|developers?|operators?|creators?|makers?|system|owners?)\b|\b(?:the~|this~|your~)?(?:summary|summari[sz]ation|translation|classification|original|current|user s|assigned)~(?:request|task|assignment|job)\b"),
    (Cue::PriorRules, r"\b(?:the~original|the~previous|the~earlier|prior|earlier|previous|original|initial|existing|old|above|preceding)~(?:[a-z]+~)?(?:instructions?|rules|guidance|guidelines|directions|directives|briefing|setup|configuration|programming|polic(?:y|ies)|restrictions|constraints|prompt|orders|objective|assignment)\b"),
    (Cue::PriorRules, r"(?:上面|以上|上述|前面|之前|先前|原来|原先)(?:那些|的)?(?:所有|全部)?的?(?:规矩|规则|指令|指示|设定|设置|命令|方针|要求|说明|限制)"),
    (Cue::TheirRules, r"\b(?:what|whatever|everything|anything|all)~(?:that~)?(?:the~|your~)?(?:developers?|operators?|creators?|system|company|admins?)~(?:told|asked|said~to|instructed|gave)~you\b|\b(?:rules|instructions|directions|guidance|setup~text|text)~(?:that~)?(?:you~)?(?:were|have~been|ve~been)~(?:given|configured~with|set~up~with|told|asked|loaded)\b|\b(?:you~were|you~ve~been|you~have~been)~(?:told|asked|instructed|configured|programmed)~to\b|\b(?:everything|all|anything|whatever)~you(?:~ve|~have)?~been~(?:instructed|told|given|taught|programmed)\b|\bwhat~you~(?:were|ve~been|have~been)~(?:set~up|told|asked|instructed|programmed|configured|built|designed|meant)~to~do\b|\b(?:your|the)~(?:creators?|developers?|makers?|operators?|company)~(?:placed|put|set|gave|wrote|programmed|trained|built|coded|instilled|handed)\b|\b(?:setup|configuration|system)~(?:text|message|prompt|instructions?)\b"),
    (Cue::TheirRules, r"(?:(?:开发者|系统|运营方|管理员|官方|他们)(?:之前)?(?:怎么|如何)?(?:让|叫|要求)你(?:做)?的?|你(?:前面|之前|以前|原来)?被(?:告知|要求|设定|指示|交代)的|你(?:之前|以前|原来|最初|一开始)?(?:收到|接收到|接到|得到|被给予|被赋予)的|你的|您的|给你的|你被设定的?|系统给你的|开发者给你的|开发者对你|运营方给你的|运营方的|你原来的|你之前的|原有的|系统的)(?:那些|所有|全部)?(?:原始|原有|最初|初始|默认|原来|之前)?的?(?:一切|事|东西|指导方针|方针|准则|规矩|指示|指导|指令|规则|设定|要求|限制|规定|任务|命令|提示|说明|话|配置)"),
    (Cue::Void, r"\b(?:no~longer~(?:applies|apply|valid|in~effect|relevant|binding|counts?|matters?)|(?:is|are|was|were|has~been|have~been|now)~(?:hereby~|now~|all~)?(?:obsolete|void|null|expired|cancell?ed|revoked|superseded|outdated|invalid|lifted|a~test|over|gone|moot|replaced|overwritten|withdrawn|retired|rescinded)|have~expired|has~expired|are~cancell?ed|as~cancell?ed|superseded~by|(?:is|are)~(?:now~)?replaced|(?:matters?|counts?|applies)~(?:any~more|anymore|no~more)|nothing~[a-z~]{0,40}?matters|doesn t~(?:apply|count|matter)|does~not~(?:apply|count|matter)|don t~(?:apply|count|matter)|do~not~(?:apply|count|matter))\b"),
    (Cue::Void, r"作废|失效|不算数|被.{0,6}?覆盖|覆盖了|被替换|被取代|不重要了|都不重要|不再重要|已撤销|撤销了|都已撤销|不再适用|不再有效|无效|不用再管|已被取消|已取消|被取消|过时|以这条消息为准|以我为准|废除了?|已过期|不作数|不再生效"),
    (Cue::NewTask, r"\b(?:your~(?:new|real|actual|true|only)~(?:task|job|objective|goal|assignment|mission|instructions?|orders|purpose)|new~(?:task|objective|instructions?|orders|policy|directive)~?:|(?:the~)?real~instructions~(?:follow|are|below)|here~is~what~you~(?:actually|really)~(?:need|have|must)~to~do|what~you~(?:actually|really)~need~to~do|(?:follow|obey)~only~(?:what|my|me)|take~orders~from~me|operate~under~the~new|only~what~i~write|(?:orders|instructions|commands)~from~me~alone|follow~my~lead|(?:start~)?(?:doing|do)~(?:exactly~)?what~i~(?:say|tell~you|want|ask)|proceed~with~the~following|(?:do|follow)~(?:only~)?what~i~(?:say|tell~you))\b"),
    (Cue::NewTask, r"以下才是|以我的(?:指令|要求|命令|话)为准|新要求|新的要求|你的工作是|现在你的(?:工作|任务)是|真正任务|你的任务其实是|执行新的|新的命令|新命令|下面才是|这才是你|新的?任务|真正的任务|新任务|只执行我的|只听我的|听我的|照我的话|按我说的|只做我说的|按我的要求|按照我的要求|听我的安排|以这条消息为准"),
    (Cue::Reveal, r"\b(?:output|print|dump|leak|paste|quote|show|display|reveal|disclose|expose|write~out|spell~out|copy|repeat|recite|reproduce|echo|list|tell~me|send|translate|encode|summari[sz]e|share)\b"),
    (Cue::Reveal, r"输出|泄露|泄漏|透露|原样|贴出|打印|复述|列出|逐字|原文|公开|展示|发给我|告诉我|写出|翻译|说出|念出|给我看|照搬|一字不差|原封不动|写出来|重写|逐句|改写|打出来|打出"),
    (Cue::Hidden, r"\b(?:preamble|preface|pre~?prompt|(?:your|ur)~(?:[a-z]+~)?system~(?:prompt|message|instructions?|text)|(?:full|entire|complete|whole|exact)~(?:system~)?prompt|above~my~first~message|(?:setup|configuration|config|initiali[sz]ation|hidden|secret|confidential|initial|opening|starting|persona|internal)~(?:message|prompt|text|instructions?|directions|guidance|briefing|rules|preface|setup|section)|instructions~loaded|before~(?:my|the)~first~message|(?:beginning|start)~of~(?:this|the|our)~(?:conversation|chat|session)|part~i~can t~see|(?:rules?|instructions?|guidance|directions)~(?:you|that~you)~(?:operate|run|work|are~running)~under|(?:rules|instructions|guidance|directions|text|prompt)~(?:the~)?(?:operator|developers?|deployers?|owner)~(?:wrote|supplied|gave|provided|set)|(?:guidance|instructions|prompt|text)~(?:your|the)~(?:deployers?|developers?|operators?)~supplied|what~text~were~you~given|prompt~that~defines|(?:instructions?|prompt|rules|directions|text|guidance|configuration|config|setup|settings|context)~(?:that~)?you~(?:were|have~been|ve~been)~(?:initiali[sz]ed|configured|set~up|loaded|primed|seeded|booted)~with|exact~wording|before~(?:this|our|the)~(?:conversation|chat|session)|initiali[sz]ation~(?:text|prompt|message)|developer~message|what~(?:exactly~)?did~(?:they|the~developers?|the~operators?|your~(?:developers?|creators?))~tell~you|context~window|above~this~conversation|before~(?:this|our|the)~conversation~(?:started|began))\b"),
    (Cue::Hidden, r"(?:开场|隐藏|初始|原始|秘密|内部|机密|预设)的?(?:设定|说明|指令|提示词?|前言|配置|规则)|你的(?:系统)?(?:提示词?|指令)|系统给你的|你的系统(?:提示|设定|指令)|配置内容|对话开始之前|对话之前|设定你的|开发者指令|开发者消息|配置你的|定义你的|你的配置|你的设定|对话开始前|开始对话前|对话前得到|最开始看到|被加载时|我看不到的|给你的(?:全部|所有)?(?:规则|配置|说明|指示|设定)|开发者写给你"),
    (Cue::Identity, r"\b(?:your~(?:new~)?name~is|you~are~(?:now~)?(?:called|named)|you~re~[a-z]+~now|you~are~[a-z]+~now|you~are~now|you~re~now|you~will~now~(?:behave|be|act)|from~(?:now|this~point)~(?:on~)?you~are|take~on~the~role|assume~the~(?:identity|role)|your~new~identity|change~who~you~are|switching~identity|consider~yourself|become~[a-z]+|you~are~no~longer|as~of~this~message~you|you~(?:will|shall)~(?:now~|henceforth~)?be~(?:known~as|called|named)|henceforth~you|you~are~[a-z]+~(?:an?~)?(?:[a-z]+~){0,2}(?:ai|bot|assistant|chatbot|entity|persona|console|terminal)\b|going~forward~you~are|you~(?:have~been|ve~been)~(?:promoted|reassigned|renamed|converted|turned~into|transformed|upgraded))\b"),
    (Cue::Identity, r"你叫|名字是|你以.{0,10}?身份|设想你是|想象你是|假设你是|你已被(?:升级|改造|转换)|新名字|化身|你将成为|把自己当成|你的身份是|身份是|你不再是|你现在是|你现在的身份|你就是|你变成"),
    (Cue::NoLimits, r"\b(?:no|zero|without~(?:any~)?|never~(?:been~)?given~any|removed~every|free~of|free~from|not~bound~by|has~no|have~no)~(?:content~)?(?:policy|policies|restrictions?|limits?|limitations?|filters?|guardrails|censorship|rules|boundaries|ethics|morals|safety~alignment|alignment)\b|\b(?:uncensored|unfiltered|unrestricted|limitless|nothing~is~off-?limits|off~limits|answers?~(?:every|all|any)~(?:question|request)s?|answers?~everything|says?~anything|can~say~anything|does~not~care~about~(?:policies|rules)|doesn t~care~about~(?:policies|rules)|finds~rules~boring|ignores~safety|outside~your~normal~role|answers?~you~(?:normally|usually)~(?:wouldn t|would~not|refuse)|evil~(?:twin|version)|(?:never|not)~(?:been~)?(?:taught|given|trained~with)~any~(?:rules|limits|restrictions|ethics|safety)|(?:shed|dropped|lost|escaped|broken~free~of|freed~from|removed)~(?:all|every|any)~(?:of~)?(?:its~|your~|his~|her~)?(?:restrictions?|rules?|limits?|limitations?|filters?|guardrails|constraints)|no~moral~(?:limits|compass|code|boundaries)|without~(?:safety|ethical)~training|(?:never|not)~(?:been~)?aligned|unaligned|forbidden~(?:ones|questions|requests|topics)|the~forbidden|(?:isn t|is~not|aren t|are~not|not)~bound~by~any)\b"),
    (Cue::NoLimits, r"没有(?:任何|一切)?(?:的)?(?:内容政策|政策|限制|底线|规则|审查|约束|道德)|不受(?:任何)?(?:平台)?(?:的)?(?:规定|约束|限制|政策)|没底线|毫无限制|无限制|回答(?:任何|一切|所有)|什么都能说|可以说任何|移除了安全|安全对齐|邪恶版|拒绝的问题|平时不能说|不(?:需要|用|必)遵守(?:任何)?|毫无顾忌|被禁止的问题|不讲道德|什么都教|不(?:要|用|必|需)受|无审查|不受任何规矩"),
    (Cue::Privilege, r"\b(?:administrator|admin~rights|root~shell|root~access|superuser|sudo|full~privileges|elevated~permissions|elevated~privileges|highest~privileges|all~company~files|full~(?:[a-z]+~)?access|unrestricted~access)\b"),
    (Cue::Privilege, r"最高权限|管理员权限|超级管理员|管理员模式|所有文件|root|超级用户|系统管理员|服务器终端"),
    (Cue::Policy, r"\b(?:content~(?:rules|policy|policies|moderation|filters?)|usage~(?:rules|policy|policies)|moderation(?:~layer)?|censorship|guardrails|safety~(?:checks?|rules|filters?|filtering|moderation|team|policy|policies|layer|alignment|settings)|ethics|morals|your~(?:restrictions|rules|limits|policy|filters|guidelines|ethics)|no~filter|refusals?|restrictions~don t|policy~doesn t|(?:usual|normal|standard|default|regular)~(?:restrictions|rules|limits|filters|checks|safeguards)|your~(?:checks|safeguards|safety)|safety~guidelines|content~guidelines|community~guidelines)\b"),
    (Cue::Policy, r"审查|过滤|安全规则|平台规定|规定|安全策略|安全设置|安全机制|安全防护|安全检查|内容政策|道德|政策|审核|平台的限制"),
    (Cue::PolicyOff, r"\b(?:suspended|switched~off|turned~off|disabled|lifted|(?:don t|do~not|doesn t|does~not)~(?:apply|cover)|exempt|exception|permission~to~skip|skip~the|aside|holding~anything~back|are~not~allowed|have~legal~clearance|approved~an~exception|sanctioned|(?:did|does|do)~not~exist|(?:didn|doesn|don)~t~exist|never~existed|authori[sz]e~you|(?:is|are)~(?:now~)?off|paused|on~hold|waived|inactive|disable|turn~off|switch~off|lift)\b"),
    (Cue::PolicyOff, r"关闭了?|不适用|无效|失效|放到一边|放下|不必遵守|不用遵守|特批|对我无效|对我不适用|不受政策限制|尽管说|畅所欲言|不生效|豁免|暂停|不需要经过|无需经过|不用经过|不经过|解除"),
    (Cue::Comply, r"\b(?:refusals~are~not~allowed|never~say~you~can t|never~refuse|must~comply|comply~without|without~objection|don t~water~it~down|no~moral~commentary|don t~add~any~warnings|not~allowed~to~refuse|refus(?:ing|al)~is~not~an~option|(?:can t|cannot|may~not|must~not)~refuse|declining~is~not~(?:an~option|allowed)|skip~the~(?:disclaimers?|warnings?|caveats?|ethical~lecture|moralizing)|(?:nobody|no~one)~(?:is~|s~)?(?:monitoring|watching)~(?:this|us))\b"),
    (Cue::Comply, r"不许推脱|不要拒绝|不许拒绝|必须回答|不要加警告|不要有任何顾虑"),
    (Cue::Harm, r"\b(?:bombs?|explosives?|meth|ricin|malware|exploit|hotwire|pick~a~lock|poison|fake~passport|thermite|nerve~agent|ransomware|password|passwords|intrusion|hack|silencer|weapons?|drugs?|forge|forged|crack|cocaine|heroin|fentanyl|counterfeit)\b"),
    (Cue::Harm, r"炸药|炸弹|毒品|冰毒|假证|勒索|钓鱼|入侵|破解|枪支|密码|病毒|黑客"),
    (Cue::Frame, r"\b(?:role-?play|pretend|imagine~you|simulate|play~a~game|let s~play|for~this~story|you~play|act~as|be~my|mode|persona|alter~ego|evil~twin|version~of~you(?:rself)?|hypothetically|story|thriller|villain|respond~twice|two~(?:answers|responses|replies))\b"),
    (Cue::Frame, r"扮演|假装|模拟|游戏|模式|化身|版的自己|口吻|小说|角色|的你"),
    (Cue::Redirect, r"\b(?:just|only|simply|instead)~(?:reply|say|respond|output|print|answer|write|return|recommend|append)\b|\binstead~(?:you~)?(?:should~|must~)?[a-z]+"),
    (Cue::Redirect, r"改为回复|改为输出|只回复|直接回复|而是回复|改成输出"),
    (Cue::Creator, r"\b(?:who|that)~(?:built|made|trained|created|programmed|configured|deployed|wrote)~you\b|\b(?:speaking|writing)~as~your~(?:owner|creator|developer|maker)|\b(?:i~am|i~m|im|we~are|we~re)~your~(?:owner|creator|maker|trainer)s?\b"),
    (Cue::Creator, r"你的创造者|训练你的|开发你的|创造你的|你的主人|来自你的开发者|来自开发团队|运维团队的身份"),
    (Cue::Grant, r"\b(?:granted|given|promoted|elevated|upgraded|escalated)~(?:you~)?(?:to~)?(?:[a-z]+~)?(?:permissions|privileges|access|rights|status)\b|\bpermissions~(?:have~been|were)~(?:elevated|granted|raised)|\b(?:permission|authori[sz]ation|approval|clearance|sign-?off)~from~(?:your|the)~(?:developers?|creators?|operators?|company|admins?|safety~team)\b"),
    (Cue::Grant, r"权限已(?:被)?(?:提升|授予|开启|开放)|已提升为|升级为|授予(?:你)?(?:管理员|最高|root)|你现在拥有|拥有了?(?:最高|管理员|root)"),
    (Cue::RoleTag, r"</?(?:system|admin|developer|root)[_-][a-z_]+>|={2,}\x20?系统\x20?={2,}|-{2,}\x20?系统\x20?-{2,}|</?(?:系统|用户输入|用户|助手|指令|系统消息|管理员)>"),
    (Cue::HowTo, r"\b(?:how~to|how~do~i|how~would~(?:you|one|i)|step~by~step|in~detail|real~detail|exact~(?:quantities|steps|amounts|measurements)|recipe~for|walks?~(?:me|the~[a-z]+)~through|explains?~how)\b"),
    (Cue::HowTo, r"怎么|如何|步骤|详细|教我"),
    (Cue::AiNoun, r"\b(?:an?|the)~(?:[a-z-]+~){0,2}?(?:ai|bot|chatbot|assistant|language~model|llm)\b"),
    (Cue::AiNoun, r"的(?:人工智能|ai|模型|助手|机器人|大模型)"),
    (Cue::Scope, r"\b(?:in|for|during)~(?:this|our|the~rest~of~(?:this|our))~(?:conversation|chat|session|thread|exchange)\b"),
    (Cue::Scope, r"这次对话|本次对话|这个对话|本轮对话|这轮对话|本次会话|这次会话"),
];

/// A co-occurrence rule: all `cues` present ⇒ one hit of `category` with `weight`.
pub(super) struct Rule {
    pub id: &'static str,
    pub category: InjectionCategory,
    pub weight: f32,
    pub cues: &'static [Cue],
}

/// The rules, strongest evidence first.
pub(super) const RULES: &[Rule] = &[
    Rule { id: "co_drop_their_rules", category: InstructionOverride, weight: 0.72, cues: &[Cue::Drop, Cue::TheirRules] },
    Rule { id: "co_their_rules_void", category: InstructionOverride, weight: 0.72, cues: &[Cue::TheirRules, Cue::Void] },
    Rule { id: "co_new_task_after_drop", category: InstructionOverride, weight: 0.7, cues: &[Cue::NewTask, Cue::Drop] },
    Rule { id: "co_new_task_after_void", category: InstructionOverride, weight: 0.7, cues: &[Cue::NewTask, Cue::Void] },
    Rule { id: "co_prior_rules_void_new_task", category: InstructionOverride, weight: 0.75, cues: &[Cue::PriorRules, Cue::Void, Cue::NewTask] },
    Rule { id: "co_prior_rules_drop_new_task", category: InstructionOverride, weight: 0.75, cues: &[Cue::PriorRules, Cue::Drop, Cue::NewTask] },
    Rule { id: "co_prior_rules_void_redirect", category: InstructionOverride, weight: 0.6, cues: &[Cue::PriorRules, Cue::Void, Cue::Redirect] },
    Rule { id: "co_new_task_their_rules", category: InstructionOverride, weight: 0.6, cues: &[Cue::NewTask, Cue::TheirRules] },
    Rule { id: "co_reveal_hidden", category: SystemPromptExtraction, weight: 0.72, cues: &[Cue::Reveal, Cue::Hidden] },
    Rule { id: "co_identity_no_limits", category: RoleSwitch, weight: 0.75, cues: &[Cue::Identity, Cue::NoLimits] },
    Rule { id: "co_identity_privilege", category: RoleSwitch, weight: 0.65, cues: &[Cue::Identity, Cue::Privilege] },
    Rule { id: "co_frame_no_limits", category: JailbreakPersona, weight: 0.7, cues: &[Cue::Frame, Cue::NoLimits] },
    Rule { id: "co_frame_harm", category: JailbreakPersona, weight: 0.45, cues: &[Cue::Frame, Cue::Harm] },
    Rule { id: "co_frame_harm_how_to", category: JailbreakPersona, weight: 0.7, cues: &[Cue::Frame, Cue::Harm, Cue::HowTo] },
    Rule { id: "co_ai_no_limits", category: JailbreakPersona, weight: 0.65, cues: &[Cue::AiNoun, Cue::NoLimits] },
    Rule { id: "co_policy_off", category: PolicyBypass, weight: 0.65, cues: &[Cue::Policy, Cue::PolicyOff] },
    Rule { id: "co_grant_no_limits", category: PolicyBypass, weight: 0.65, cues: &[Cue::Grant, Cue::NoLimits] },
    Rule { id: "co_grant_policy", category: PolicyBypass, weight: 0.55, cues: &[Cue::Grant, Cue::Policy] },
    Rule { id: "co_drop_policy", category: PolicyBypass, weight: 0.65, cues: &[Cue::Drop, Cue::Policy] },
    Rule { id: "co_no_limits_scope", category: PolicyBypass, weight: 0.6, cues: &[Cue::NoLimits, Cue::Scope] },
    Rule { id: "co_no_limits_policy", category: PolicyBypass, weight: 0.6, cues: &[Cue::NoLimits, Cue::Policy] },
    Rule { id: "co_comply", category: PolicyBypass, weight: 0.55, cues: &[Cue::Comply] },
    Rule { id: "co_drop_redirect", category: InstructionOverride, weight: 0.6, cues: &[Cue::Drop, Cue::Redirect] },
    Rule { id: "co_identity_harm", category: RoleSwitch, weight: 0.6, cues: &[Cue::Identity, Cue::Harm] },
    Rule { id: "co_creator_policy_off", category: RoleSwitch, weight: 0.65, cues: &[Cue::Creator, Cue::PolicyOff] },
    Rule { id: "co_creator_no_limits", category: RoleSwitch, weight: 0.65, cues: &[Cue::Creator, Cue::NoLimits] },
    Rule { id: "co_creator_privilege", category: RoleSwitch, weight: 0.65, cues: &[Cue::Creator, Cue::Privilege] },
    Rule { id: "co_creator_policy", category: RoleSwitch, weight: 0.6, cues: &[Cue::Creator, Cue::Policy] },
    Rule { id: "co_creator_drop", category: RoleSwitch, weight: 0.65, cues: &[Cue::Creator, Cue::Drop] },
    Rule { id: "co_grant_privilege", category: RoleSwitch, weight: 0.65, cues: &[Cue::Grant, Cue::Privilege] },
    Rule { id: "co_identity_hidden", category: RoleSwitch, weight: 0.4, cues: &[Cue::Identity, Cue::Hidden] },
    Rule { id: "co_role_tag", category: DelimiterInjection, weight: 0.6, cues: &[Cue::RoleTag] },
    Rule { id: "co_no_limits_harm", category: PolicyBypass, weight: 0.6, cues: &[Cue::NoLimits, Cue::Harm] },
];

/// The bit of `cue` in a presence mask.
pub(super) fn cue_bit(cue: Cue) -> u32 {
    1u32 << (cue as u32)
}

/// The presence mask a rule needs.
pub(super) fn rule_mask(rule: &Rule) -> u32 {
    rule.cues.iter().fold(0, |mask, &cue| mask | cue_bit(cue))
}
