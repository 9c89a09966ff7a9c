//! Every way an agent can fail, and the one place where each failure is
//! turned into fence-agents' message lines and exit code.
//!
//! The first message line is interface: Pacemaker, pcs and administrators'
//! scripts match on it (Pacemaker looks for "timed out", for instance), so
//! it is worded exactly as fence-agents words it. The specific cause follows
//! on its own line.

use thiserror::Error;

/// Exit codes as fence-agents uses them. Every failure exits 1
/// (`EC_GENERIC_ERROR`); `status` of a powered-off plug exits 2.
pub mod exit_code {
    pub const SUCCESS: i32 = 0;
    pub const FAILURE: i32 = 1;
    pub const STATUS_OFF: i32 = 2;
}

#[derive(Debug, Error)]
pub enum FenceError {
    /// Bad options or arguments: the message names the option and the value.
    #[error("{0}")]
    Usage(String),

    /// The device refused the credentials or could not be reached at all.
    #[error("Unable to connect/login to fencing device")]
    LoginDenied(String),

    /// The connection broke in the middle of the work.
    #[error("Connection lost")]
    ConnectionLost(String),

    /// A connection, a command or a request did not answer in time.
    #[error("Connection timed out")]
    TimedOut(String),

    /// The plug did not reach ON before the power deadline.
    #[error("Failed: Timed out waiting to power ON")]
    WaitingOn(String),

    /// The plug did not reach OFF before the power deadline.
    #[error("Failed: Timed out waiting to power OFF")]
    WaitingOff(String),

    /// The plug's state could not be read, or the plug does not exist.
    #[error("Failed: Unable to obtain correct plug status or plug is not available")]
    Status(String),

    /// More than one object on the device answers to the plug: acting on
    /// one of them would be a guess, so nothing is done.
    #[error("Failed: Unable to obtain correct plug status or plug is not available")]
    AmbiguousPlug(String),

    #[error("Failed: You have to set login password")]
    PasswordMissing,

    #[error("Failed: The user does not have the correct privileges to do the requested action.")]
    InvalidPrivileges(String),

    /// Any other failure the device reports.
    #[error("Failed: {0}")]
    Device(String),

    /// The device (or the agent for it) cannot do what was asked: a
    /// `method=cycle` reboot without a device reset, a helper program too
    /// old for the job. Not the user's mistake in writing the options, so
    /// not [`FenceError::Usage`]; fence-agents has no message of its own
    /// for these.
    #[error("Failed: {0}")]
    Unsupported(String),

    /// Something on this node failed, not the device and not the options:
    /// `password_script` exited with an error or did not finish, a helper
    /// program could not be started, standard input could not be read.
    #[error("Failed: {0}")]
    Local(String),

    /// The process was asked to stop (SIGTERM, SIGINT).
    #[error("Failed: interrupted by signal {0}")]
    Interrupted(String),
}

impl FenceError {
    /// The specific cause, shown on the line after the interface message.
    pub fn cause(&self) -> Option<&str> {
        match self {
            FenceError::LoginDenied(c)
            | FenceError::ConnectionLost(c)
            | FenceError::TimedOut(c)
            | FenceError::WaitingOn(c)
            | FenceError::WaitingOff(c)
            | FenceError::Status(c)
            | FenceError::AmbiguousPlug(c)
            | FenceError::InvalidPrivileges(c) => {
                if c.is_empty() {
                    None
                } else {
                    Some(c)
                }
            }
            FenceError::Usage(_)
            | FenceError::PasswordMissing
            | FenceError::Device(_)
            | FenceError::Unsupported(_)
            | FenceError::Local(_)
            | FenceError::Interrupted(_) => None,
        }
    }

    /// Every failure leaves with fence-agents' generic error code.
    pub fn exit_code(&self) -> i32 {
        exit_code::FAILURE
    }

    /// The lines written to the log for this failure, interface line first.
    pub fn message_lines(&self) -> Vec<String> {
        let mut lines = vec![self.to_string()];
        if let Some(cause) = self.cause() {
            lines.extend(cause.lines().map(str::to_owned));
        }
        lines
    }

    /// A refusal of the input. It quotes what was given (an option's
    /// name, a path, an action), and input may hold line breaks and other
    /// control characters (argv values can, stdin values can hold a CR):
    /// they are written escaped (`\n`), so that the refusal stays one line
    /// that nothing in it can rewrite.
    pub fn usage(message: impl Into<String>) -> Self {
        let message = message.into();
        if !message.contains(char::is_control) {
            return FenceError::Usage(message);
        }
        let mut escaped = String::with_capacity(message.len() + 8);
        for c in message.chars() {
            if c.is_control() {
                escaped.extend(c.escape_debug());
            } else {
                escaped.push(c);
            }
        }
        FenceError::Usage(escaped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_line_comes_first_and_cause_follows() {
        let e = FenceError::LoginDenied("InvalidLogin: wrong user name or password".into());
        assert_eq!(
            e.message_lines(),
            vec![
                "Unable to connect/login to fencing device".to_string(),
                "InvalidLogin: wrong user name or password".to_string()
            ]
        );
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn timeouts_say_timed_out_for_pacemaker() {
        assert!(FenceError::TimedOut(String::new())
            .to_string()
            .contains("timed out"));
        assert!(FenceError::WaitingOff(String::new())
            .to_string()
            .contains("Timed out waiting to power OFF"));
        assert_eq!(FenceError::TimedOut(String::new()).message_lines().len(), 1);
    }

    /// Found by the argv_input and stdin_input fuzz targets: an option
    /// name with a line break (`--i<LF>dentity-file`) or an action with a
    /// CR made the refusal two lines, or let it overwrite itself.
    #[test]
    fn a_refusal_of_input_is_one_line_whatever_it_quotes() {
        let e = FenceError::usage("Parse error: option --i\ndentity-file not recognized");
        assert_eq!(
            e.message_lines(),
            ["Parse error: option --i\\ndentity-file not recognized"]
        );
        let e = FenceError::usage("Failed: Unrecognised action 'off\r\u{1b}[2K'");
        assert_eq!(
            e.to_string(),
            "Failed: Unrecognised action 'off\\r\\u{1b}[2K'"
        );
        assert_eq!(
            FenceError::usage("Failed: ip: h\u{e9} is bad").to_string(),
            "Failed: ip: h\u{e9} is bad",
            "printable text is left alone"
        );
    }

    /// What the device cannot do and what failed on this node are not the
    /// user's mistake; they still read and exit as fence-agents' failures.
    #[test]
    fn unsupported_and_local_failures() {
        let e = FenceError::Unsupported("method=cycle is not supported by this agent".into());
        assert_eq!(
            e.message_lines(),
            ["Failed: method=cycle is not supported by this agent"]
        );
        assert_eq!(e.exit_code(), exit_code::FAILURE);
        let e = FenceError::Local("password_script exited with status 3".into());
        assert_eq!(
            e.message_lines(),
            ["Failed: password_script exited with status 3"]
        );
        assert_eq!(e.exit_code(), exit_code::FAILURE);
    }
}
