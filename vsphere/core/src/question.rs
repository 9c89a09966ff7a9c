//! VM questions: which the agent answers on its own, and with what.
//!
//! A question (vim25 `VirtualMachineQuestionInfo`) can block a power-on
//! until someone answers it. Answering the default blindly is not safe:
//! the "moved or copied" question defaults to "I copied it", which gives
//! the VM a new BIOS UUID and new MAC addresses — the very identity that
//! plugs, `pcmk_host_map` and DHCP reservations rely on. So the agent only
//! answers questions it recognizes by their message id (never by their
//! text, which is localized and could be anything), with a choice it knows
//! keeps the VM what it was; any other question fails the power operation,
//! naming the question and its choices.

use std::fmt;

/// One message of a question (vim25 `VirtualMachineMessage`): `id` is
/// the stable identifier (`msg.uuid.altered`), `text` the localized words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionMessage {
    pub id: String,
    pub text: String,
}

/// One possible answer (vim25 `ElementDescription`): `key` is what
/// AnswerVM takes, `label` vSphere's stable name of the choice
/// (`button.uuid.movedTheVM`), `summary` the words a person sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub key: String,
    pub label: String,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The question's own id, which AnswerVM takes (`_vmx1`).
    pub id: String,
    pub text: String,
    pub messages: Vec<QuestionMessage>,
    pub choices: Vec<Choice>,
    /// Index into `choices`.
    pub default: Option<usize>,
}

impl Question {
    /// The message ids, for messages: `msg.uuid.altered`.
    pub fn message_ids(&self) -> String {
        if self.messages.is_empty() {
            return "(no message id)".to_string();
        }
        self.messages
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every choice, for messages: `0 "Cancel" (button.uuid.cancel), ...`.
    pub fn choices_text(&self) -> String {
        self.choices
            .iter()
            .map(|c| format!("{} {:?} ({})", c.key, c.summary, c.label))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.message_ids(), self.text.trim())
    }
}

/// The "moved or copied" question's message id.
pub const MOVED_OR_COPIED: &str = "msg.uuid.altered";

/// The label of its "I moved it" choice: the answer that keeps the BIOS
/// UUID and the MAC addresses. PowerCLI scripts answer the question with
/// `Set-VMQuestion -Option 'button.uuid.movedTheVM'`, pyVmomi scripts look
/// for the choice with this label and send its key; Apache CloudStack's
/// VirtualMachineMO.powerOn() answers msg.uuid.altered with "moved it"
/// (key "1") for the same reason: a VM restarted after a host failure was
/// not copied.
pub const MOVED_LABEL: &str = "button.uuid.movedTheVM";

/// Questions whose default answer cannot change what the VM is, by message
/// id, with the reason. Only these are answered with their default.
pub const SAFE_DEFAULTS: &[(&str, &str)] = &[(
    // The file behind a file-backed serial port exists (libvirt's ESX
    // driver README describes it blocking a power-on). Every choice only
    // appends to, replaces or keeps that file.
    "msg.serial.file.open",
    "its choices only decide what happens to the file behind a serial port",
)];

/// What to do about a question that blocks a power operation the agent
/// started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Answer {
        choice: Choice,
        /// Why this answer is safe, for the log.
        reason: String,
    },
    /// Do not answer: the power operation fails with this message.
    Refuse(String),
}

/// The answer that keeps the VM's identity, or the refusal.
pub fn decide(q: &Question) -> Decision {
    let refuse = |why: &str| {
        Decision::Refuse(format!(
            "the VM asks question {} {:?} (choices: {}), {why}; answer it in the vSphere Client",
            q.message_ids(),
            q.text.trim(),
            q.choices_text()
        ))
    };
    if q.messages.is_empty() {
        return refuse("which has no message id, so this agent cannot tell what it is");
    }
    // Every message must be the same known kind: a question that also says
    // something unknown is not the known question.
    if q.messages.iter().all(|m| m.id == MOVED_OR_COPIED) {
        return match q.choices.iter().find(|c| c.label == MOVED_LABEL) {
            Some(c) => Decision::Answer {
                choice: c.clone(),
                reason: "the VM was not copied: \"moved\" keeps its BIOS UUID and MAC addresses, \
                         which plugs and host maps rely on"
                    .to_string(),
            },
            None => refuse(&format!(
                "which has no \"I moved it\" choice ({MOVED_LABEL}); \"I copied it\" would change \
                 the VM's BIOS UUID and MAC addresses"
            )),
        };
    }
    let safe = q
        .messages
        .iter()
        .all(|m| SAFE_DEFAULTS.iter().any(|(id, _)| *id == m.id.as_str()));
    if !safe {
        return refuse(
            "which this agent does not answer on its own: only questions whose answer is known \
             not to change the VM's identity are answered",
        );
    }
    let reason = SAFE_DEFAULTS
        .iter()
        .find(|(id, _)| q.messages.iter().any(|m| m.id == *id))
        .map(|(_, why)| (*why).to_string())
        .unwrap_or_default();
    match q.default.and_then(|i| q.choices.get(i)) {
        Some(c) => Decision::Answer {
            choice: c.clone(),
            reason: format!("its default, since {reason}"),
        },
        None => refuse("which has no default answer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted::choice;

    fn moved_or_copied() -> Question {
        crate::scripted::moved_or_copied("_vmx1")
    }

    #[test]
    fn moved_or_copied_is_answered_moved_never_the_copied_default() {
        match decide(&moved_or_copied()) {
            Decision::Answer { choice, reason } => {
                assert_eq!(choice.key, "1");
                assert_eq!(choice.label, MOVED_LABEL);
                assert!(reason.contains("BIOS UUID"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_moved_choice_is_found_by_label_not_by_position_or_words() {
        let mut q = moved_or_copied();
        q.choices = vec![
            choice("7", "button.uuid.copiedTheVM", "I moved it"),
            choice("9", "button.uuid.movedTheVM", "Ich habe sie verschoben"),
        ];
        q.default = Some(0);
        match decide(&q) {
            Decision::Answer { choice, .. } => assert_eq!(choice.key, "9"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn moved_or_copied_without_a_moved_choice_is_refused_naming_the_choices() {
        let mut q = moved_or_copied();
        q.choices.remove(1);
        let Decision::Refuse(text) = decide(&q) else {
            panic!("answered");
        };
        for part in [
            "msg.uuid.altered",
            "I Copied It",
            "button.uuid.copiedTheVM",
            "vSphere Client",
        ] {
            assert!(text.contains(part), "{part:?}: {text}");
        }
    }

    #[test]
    fn an_allowlisted_question_gets_its_default() {
        let q = crate::scripted::serial_file(Some(0));
        match decide(&q) {
            Decision::Answer { choice, reason } => {
                assert_eq!(choice.key, "0");
                assert!(reason.contains("serial port"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let mut no_default = q.clone();
        no_default.default = None;
        assert!(matches!(decide(&no_default), Decision::Refuse(_)));
        let mut out_of_range = q;
        out_of_range.default = Some(3);
        assert!(matches!(decide(&out_of_range), Decision::Refuse(_)));
    }

    #[test]
    fn unknown_mixed_or_anonymous_questions_are_refused() {
        let mut unknown = moved_or_copied();
        unknown.messages[0].id = "msg.hbacommon.outofspace".into();
        let mut mixed = moved_or_copied();
        mixed.messages.push(QuestionMessage {
            id: "msg.hbacommon.outofspace".into(),
            text: String::new(),
        });
        let mut anonymous = moved_or_copied();
        anonymous.messages.clear();
        // Text that claims to be the known question does not make it one.
        anonymous.text = "msg.uuid.altered: moved or copied?".into();
        for q in [unknown, mixed, anonymous] {
            match decide(&q) {
                Decision::Refuse(text) => assert!(text.contains("Cancel"), "{text}"),
                other => panic!("{q:?} answered: {other:?}"),
            }
        }
    }
}
