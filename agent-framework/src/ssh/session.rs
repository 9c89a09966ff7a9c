//! One SSH session with a fencing device: connect, verify the host key, log
//! in, then run commands, each on its own exec channel. Never a PTY: some
//! devices run out of them and need a reboot to get them back.

use std::io::{ErrorKind, Read};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::logging;
use crate::net::{self, ConnectError, Family, ResolveError, Resolver, SystemResolver};
use crate::{Deadline, FenceError, Secret};
use ssh2::{ErrorCode, HashType, KeyboardInteractivePrompt, MethodType, Prompt, Session};

use super::known_hosts::{self, Verdict};
use super::options::Strict;
use super::watchdog::Watchdog;

/// Everything needed to open the session.
pub struct Params {
    /// The agent's program name, sent with the disconnect message so
    /// that the device's log says who left.
    pub agent: String,
    /// What the device is, as its users call it: messages ask
    /// them to check a fingerprint on its console.
    pub device: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Secret>,
    pub identity_file: Option<PathBuf>,
    pub inet4_only: bool,
    pub inet6_only: bool,
    pub connect_timeout: Option<Duration>,
    pub strict: Strict,
    pub user_known_hosts: Vec<PathBuf>,
    pub global_known_hosts: Vec<PathBuf>,
}

impl Params {
    /// `host:port` as messages show it.
    pub fn label(&self) -> String {
        let host = host_of(self);
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// A logged-in session.
pub struct Ssh {
    session: Session,
    tcp: TcpStream,
    label: String,
    agent: String,
    /// Shuts the socket down when the work in progress outlasts its
    /// deadline by [`COMMAND_GRACE`]: the wall-clock backstop of
    /// libssh2's per-call timeouts.
    watchdog: Watchdog,
}

/// How long past a command's deadline libssh2 may still be waiting before
/// the watchdog ends the session: libssh2's own timeout (which leaves the
/// session usable for the next command) gets the first chance.
const COMMAND_GRACE: Duration = Duration::from_secs(1);
/// The bound of closing a timed-out command's channel, and of the
/// disconnect message at the end.
const CLEANUP: Duration = Duration::from_millis(500);

/// When the watchdog ends the session for work bounded by `deadline`:
/// COMMAND_GRACE after it, or after now when it has passed already (a
/// command given no time left fails by libssh2's own timeout, and the
/// session stays usable).
fn grace_after(deadline: Deadline) -> std::time::Instant {
    deadline.instant().max(std::time::Instant::now()) + COMMAND_GRACE
}

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_SOCKET_SEND: i32 = -7;
const LIBSSH2_ERROR_SOCKET_DISCONNECT: i32 = -13;
const LIBSSH2_ERROR_SOCKET_RECV: i32 = -43;
/// Output larger than this is no fencing device's answer: stop reading.
const MAX_OUTPUT: usize = 16 << 20;

fn millis_of(d: Duration) -> u32 {
    d.as_millis().clamp(1, u32::MAX as u128) as u32
}

/// libssh2's timeout for the next call: the time left.
fn millis(deadline: Deadline) -> u32 {
    millis_of(deadline.socket_timeout())
}

fn is_timeout(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT)
}

fn is_disconnect(e: &ssh2::Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::Session(LIBSSH2_ERROR_SOCKET_SEND)
            | ErrorCode::Session(LIBSSH2_ERROR_SOCKET_DISCONNECT)
            | ErrorCode::Session(LIBSSH2_ERROR_SOCKET_RECV)
    )
}

/// Answers every keyboard-interactive prompt with the password, and a
/// round without prompts (some servers end with one) with nothing.
struct PasswordPrompter<'a> {
    password: &'a Secret,
    rounds: u32,
}

impl KeyboardInteractivePrompt for PasswordPrompter<'_> {
    fn prompt<'b>(
        &mut self,
        _username: &str,
        instructions: &str,
        prompts: &[Prompt<'b>],
    ) -> Vec<String> {
        self.rounds += 1;
        logging::debug(format!(
            "keyboard-interactive round {}: {} prompt(s){}",
            self.rounds,
            prompts.len(),
            if instructions.trim().is_empty() {
                String::new()
            } else {
                format!(" ({})", instructions.trim())
            }
        ));
        // A server that keeps asking after a few rounds is refusing.
        if self.rounds > 8 {
            return Vec::new();
        }
        prompts
            .iter()
            .map(|_| self.password.expose().to_string())
            .collect()
    }
}

/// The host as the resolver and known_hosts take it: an IPv6 address
/// may be written in brackets (`[::1]`), as in URLs and known_hosts.
fn host_of(p: &Params) -> &str {
    net::unbracketed(p.host.trim())
}

fn family_of(p: &Params) -> Family {
    Family::from_flags(p.inet4_only, p.inet6_only)
}

/// The bounded resolver and connect the vSphere agents use too: DNS that
/// never answers, and addresses that swallow SYNs, end at the deadline.
fn tcp_connect(p: &Params, deadline: Deadline) -> Result<TcpStream, FenceError> {
    let host = host_of(p);
    let resolver: Arc<dyn Resolver> = Arc::new(SystemResolver);
    let addrs =
        net::addresses(&resolver, host, p.port, family_of(p), deadline).map_err(|e| match e {
            ResolveError::TimedOut => FenceError::TimedOut(format!(
                "Resolving the host name {host}: no answer within login_timeout"
            )),
            ResolveError::NoAddress(family) => {
                FenceError::LoginDenied(format!("{host} has no {} address", family.name()))
            }
            ResolveError::Failed(reason) => {
                FenceError::LoginDenied(format!("Unable to resolve host name {host}: {reason}"))
            }
        })?;
    let deadline = match p.connect_timeout {
        Some(t) => deadline.within(t),
        None => deadline,
    };
    net::connect(&addrs, deadline).map_err(|e| match e {
        ConnectError::TimedOut(_) => FenceError::TimedOut(format!(
            "Connecting to {}: no answer in time (login_timeout or ConnectTimeout)",
            p.label()
        )),
        // Each address tried is named with what it answered.
        ConnectError::Failed(tried) if addrs.len() == 1 => {
            FenceError::LoginDenied(format!("Unable to connect to {tried}"))
        }
        ConnectError::Failed(tried) => {
            FenceError::LoginDenied(format!("Unable to connect to {host}: {tried}"))
        }
    })
}

fn known_hosts_files(p: &Params) -> Vec<PathBuf> {
    p.user_known_hosts
        .iter()
        .chain(p.global_known_hosts.iter())
        .cloned()
        .collect()
}

fn verify_host_key(
    session: &Session,
    p: &Params,
    entries: &[known_hosts::Entry],
) -> Result<(), FenceError> {
    let (key, _) = session
        .host_key()
        .ok_or_else(|| FenceError::LoginDenied(format!("{} did not show a host key", p.label())))?;
    let key = key.to_vec();
    let ktype = known_hosts::blob_type(&key).unwrap_or_else(|| "unknown".into());
    let label = known_hosts::type_label(&ktype);
    let fp = session
        .host_key_hash(HashType::Sha256)
        .map(known_hosts::fingerprint)
        .unwrap_or_else(|| "SHA256:?".into());
    let name = known_hosts::lookup_name(host_of(p), p.port);
    let files = known_hosts_files(p)
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let user_file = p
        .user_known_hosts
        .first()
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| "~/.ssh/known_hosts".into());
    let port_arg = if p.port == 22 {
        String::new()
    } else {
        format!("-p {} ", p.port)
    };
    let keyscan = format!(
        "ssh-keyscan {port_arg}-t {ktype} {} >> {user_file}",
        host_of(p)
    );
    match known_hosts::check(entries, &name, &key) {
        Verdict::Match(e) => {
            logging::debug(format!(
                "Host key of {name} ({label} {fp}) matches {}:{}",
                e.file.display(),
                e.line
            ));
            Ok(())
        }
        Verdict::Revoked(e) => Err(FenceError::LoginDenied(format!(
            "Host key verification failed: the {label} key {fp} of {name} is revoked ({}:{})",
            e.file.display(),
            e.line
        ))),
        Verdict::Changed(e) if p.strict != Strict::No => Err(FenceError::LoginDenied(format!(
            "Host key verification failed: the {label} host key of {name} has CHANGED \
             (someone may be intercepting the connection, or the host was reinstalled).\n\
             Key shown now: {label} {fp}; the known key is at {}:{}.\n\
             If the change is expected, check the fingerprint on the {}'s console, then run:\n\
             ssh-keygen -R '{name}' -f {} && {keyscan}",
            e.file.display(),
            e.line,
            p.device,
            e.file.display()
        ))),
        Verdict::Changed(_) => {
            logging::warning(format!(
                "StrictHostKeyChecking=no: the host key of {name} ({label} {fp}) differs from the known one; going on anyway"
            ));
            Ok(())
        }
        Verdict::Unknown { other_types } => match p.strict {
            Strict::Yes => {
                let others = if other_types.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (it is known with other key types only: {})",
                        other_types.join(", ")
                    )
                };
                Err(FenceError::LoginDenied(format!(
                    "Host key verification failed: {name} is not a known host{others}.\n\
                     Its {label} key fingerprint is {fp} (searched: {files}).\n\
                     To trust it, check the fingerprint on the {}'s console, then run:\n\
                     {keyscan}\n\
                     or set ssh_options=\"-o StrictHostKeyChecking=accept-new\" once.",
                    p.device
                )))
            }
            Strict::AcceptNew => {
                let path = p.user_known_hosts.first().cloned().ok_or_else(|| {
                    FenceError::LoginDenied(format!(
                        "{name} is not a known host and there is no known_hosts file to add it to"
                    ))
                })?;
                append_known_host(&path, &known_hosts::entry_line(&name, &key)).map_err(|e| {
                    FenceError::LoginDenied(format!(
                        "Unable to add the host key of {name} to {}: {e}",
                        path.display()
                    ))
                })?;
                logging::warning(format!(
                    "Permanently added '{name}' ({label} {fp}) to {}",
                    path.display()
                ));
                Ok(())
            }
            Strict::No => {
                logging::warning(format!(
                    "StrictHostKeyChecking=no: the host key of {name} ({label} {fp}) is not verified"
                ));
                Ok(())
            }
        },
    }
}

fn append_known_host(path: &std::path::Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir)?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{line}")
}

/// What a failed libssh2 call during the login means. Once the watchdog
/// has shut the socket down, whatever libssh2 says (a closed socket,
/// mostly) is the login_timeout passing.
fn login_error(e: ssh2::Error, p: &Params, what: &str, watchdog: &Watchdog) -> FenceError {
    if is_timeout(&e) || watchdog.fired() {
        FenceError::TimedOut(format!(
            "{what} with {}: not done within login_timeout",
            p.label()
        ))
    } else if is_disconnect(&e) {
        FenceError::LoginDenied(format!(
            "{} closed the connection during {what}: {}",
            p.label(),
            e.message()
        ))
    } else {
        FenceError::LoginDenied(format!("{what} with {} failed: {}", p.label(), e.message()))
    }
}

/// Every libssh2 call of the login gets the time left, not a fresh
/// timeout of its own.
struct Login<'a> {
    session: &'a Session,
    p: &'a Params,
    deadline: Deadline,
    watchdog: &'a Watchdog,
}

impl Login<'_> {
    fn bound(&self) {
        self.session.set_timeout(millis(self.deadline));
    }

    fn error(&self, e: ssh2::Error, what: &str) -> FenceError {
        login_error(e, self.p, what, self.watchdog)
    }

    fn authenticate(&self) -> Result<(), FenceError> {
        let (session, p) = (self.session, self.p);
        let user = p.user.as_str();
        self.bound();
        let offered = match session.auth_methods(user) {
            Ok(m) => m.to_string(),
            Err(_) if session.authenticated() => return Ok(()),
            Err(e) => return Err(self.error(e, "asking for the login methods")),
        };
        logging::debug(format!("{} offers: {offered}", p.label()));
        let offers = |m: &str| offered.split(',').any(|o| o.trim() == m);
        let mut tried: Vec<String> = Vec::new();
        let mut causes: Vec<String> = Vec::new();
        let mut note = |e: ssh2::Error, what: &str| -> Result<(), FenceError> {
            if is_timeout(&e) || is_disconnect(&e) || self.watchdog.fired() {
                return Err(self.error(e, what));
            }
            logging::debug(format!("{what}: {}", e.message()));
            causes.push(format!("{what}: {}", e.message()));
            Ok(())
        };

        if let Some(id) = &p.identity_file {
            if offers("publickey") {
                tried.push(format!("publickey ({})", id.display()));
                let passphrase = p.password.as_ref().map(Secret::expose);
                self.bound();
                if let Err(e) = session.userauth_pubkey_file(user, None, id, passphrase) {
                    note(e, "publickey")?;
                }
            }
        }
        if !session.authenticated() {
            if let Some(pw) = &p.password {
                if offers("keyboard-interactive") {
                    tried.push("keyboard-interactive".into());
                    let mut prompter = PasswordPrompter {
                        password: pw,
                        rounds: 0,
                    };
                    self.bound();
                    if let Err(e) = session.userauth_keyboard_interactive(user, &mut prompter) {
                        note(e, "keyboard-interactive")?;
                    }
                }
                if !session.authenticated() && offers("password") {
                    tried.push("password".into());
                    self.bound();
                    if let Err(e) = session.userauth_password(user, pw.expose()) {
                        note(e, "password")?;
                    }
                }
            }
        }
        if !session.authenticated()
            && p.identity_file.is_none()
            && p.password.is_none()
            && offers("publickey")
        {
            if std::env::var_os("SSH_AUTH_SOCK").is_some() {
                tried.push("publickey (ssh-agent)".into());
                self.bound();
                if let Err(e) = session.userauth_agent(user) {
                    note(e, "ssh-agent")?;
                }
            } else {
                causes.push(
                    "no password, identity_file or ssh-agent (SSH_AUTH_SOCK) to log in with".into(),
                );
            }
        }
        if session.authenticated() {
            logging::debug(format!("Logged in to {} as {user}", p.label()));
            return Ok(());
        }
        let tried = if tried.is_empty() {
            "nothing this agent could offer".to_string()
        } else {
            tried.join(", ")
        };
        let mut msg = format!(
            "Authentication failed for user {user} on {} (tried: {tried}; the server offers: {offered})",
            p.label()
        );
        for c in causes {
            msg.push('\n');
            msg.push_str(&c);
        }
        Err(FenceError::LoginDenied(msg))
    }
}

impl Ssh {
    /// Connect, verify the host key and log in, all within `deadline`
    /// (login_timeout), in wall-clock time: DNS, the TCP connection, the
    /// banner, the key exchange and the authentication together.
    pub fn connect(p: &Params, deadline: Deadline) -> Result<Ssh, FenceError> {
        let (entries, notes) = known_hosts::load(&known_hosts_files(p));
        for n in notes {
            logging::debug(n);
        }
        let name = known_hosts::lookup_name(host_of(p), p.port);
        let known_types: Vec<String> = known_hosts::for_host(&entries, &name)
            .iter()
            .map(|e| e.key_type.clone())
            .collect();

        let tcp = tcp_connect(p, deadline)?;
        let socket = |e: std::io::Error| FenceError::LoginDenied(format!("socket: {e}"));
        let shutdown_handle = tcp.try_clone().map_err(socket)?;
        let watchdog = Watchdog::new(tcp.try_clone().map_err(socket)?);
        let armed = watchdog.arm(deadline.instant());
        // SIGTERM: end the session by closing its connection; that cannot
        // block, whatever the main thread is waiting for.
        if let Ok(h) = shutdown_handle.try_clone() {
            crate::signals::on_interrupt(move || {
                let _ = h.shutdown(Shutdown::Both);
            });
        }

        let mut session =
            Session::new().map_err(|e| FenceError::Device(format!("libssh2: {e}")))?;
        let pref = known_hosts::hostkey_preference(&known_types);
        if let Err(e) = session.method_pref(MethodType::HostKey, &pref) {
            logging::debug(format!("host key algorithm preference not set: {e}"));
        }
        session.set_tcp_stream(tcp);
        session.set_timeout(millis(deadline));
        session.handshake().map_err(|e| {
            if is_timeout(&e) || watchdog.fired() {
                // libssh2's handshake ends with the request for the
                // authentication service; a host key means the key
                // exchange was done.
                let stage = if session.host_key().is_some() {
                    "the request for the SSH authentication service"
                } else {
                    "the SSH banner and key exchange"
                };
                login_error(e, p, stage, &watchdog)
            } else {
                FenceError::LoginDenied(format!(
                    "SSH handshake with {} failed (is it an SSH server?): {}",
                    p.label(),
                    e.message()
                ))
            }
        })?;
        verify_host_key(&session, p, &entries)?;
        Login {
            session: &session,
            p,
            deadline,
            watchdog: &watchdog,
        }
        .authenticate()?;
        drop(armed);
        Ok(Ssh {
            session,
            tcp: shutdown_handle,
            label: p.label(),
            agent: p.agent.clone(),
            watchdog,
        })
    }

    /// Run `command` on its own channel (no PTY), bounded by `deadline`
    /// (shell_timeout, or power_timeout for a power command) in wall-clock
    /// time, however the peer trickles its output.
    pub fn run(&self, command: &str, deadline: Deadline) -> Result<Output, FenceError> {
        logging::info(format!("Running on {}: {command}", self.label));
        let timed_out = || {
            FenceError::TimedOut(format!(
                "`{command}` on {} did not finish in time (shell_timeout/power_timeout)",
                self.label
            ))
        };
        if self.watchdog.fired() {
            return Err(FenceError::ConnectionLost(format!(
                "the session with {} was closed after a command did not finish in time",
                self.label
            )));
        }
        let mut armed = self.watchdog.arm(grace_after(deadline));
        let fail = |e: ssh2::Error, what: &str| -> FenceError {
            if is_timeout(&e) || self.watchdog.fired() {
                timed_out()
            } else {
                FenceError::ConnectionLost(format!(
                    "{what} `{command}` on {}: {}",
                    self.label,
                    e.message()
                ))
            }
        };
        self.session.set_timeout(millis(deadline));
        let mut channel = self
            .session
            .channel_session()
            .map_err(|e| fail(e, "opening a channel for"))?;
        self.session.set_timeout(millis(deadline));
        channel.exec(command).map_err(|e| fail(e, "starting"))?;

        let read_all = |stream_id: i32| -> Result<Vec<u8>, FenceError> {
            let mut data = Vec::new();
            let mut buf = [0u8; 8192];
            let mut stream = channel.stream(stream_id);
            loop {
                if deadline.expired() {
                    return Err(timed_out());
                }
                self.session.set_timeout(millis(deadline));
                match stream.read(&mut buf) {
                    Ok(0) if self.watchdog.fired() => return Err(timed_out()),
                    Ok(0) => return Ok(data),
                    Ok(n) => {
                        data.extend_from_slice(&buf[..n]);
                        if data.len() > MAX_OUTPUT {
                            return Err(FenceError::Device(format!(
                                "`{command}` printed more than {MAX_OUTPUT} bytes"
                            )));
                        }
                    }
                    Err(_) if self.watchdog.fired() => return Err(timed_out()),
                    Err(e) if e.kind() == ErrorKind::TimedOut => return Err(timed_out()),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err(FenceError::ConnectionLost(format!(
                            "reading the output of `{command}` on {}: {e}",
                            self.label
                        )))
                    }
                }
            }
        };
        let result = read_all(0).and_then(|out| read_all(1).map(|err| (out, err)));
        let (stdout, stderr) = match result {
            Ok(v) => v,
            Err(e) => {
                // Do not wait for a hung command: close and free its
                // channel (libssh2 waits for the device's close in both),
                // together within CLEANUP, and report. The session stays
                // usable for the next command.
                let cleanup = Deadline::after(CLEANUP);
                armed.extend(grace_after(cleanup));
                self.session.set_timeout(millis(cleanup));
                let _ = channel.close();
                self.session.set_timeout(millis(cleanup));
                drop(channel);
                return Err(e);
            }
        };
        self.session.set_timeout(millis(deadline));
        let _ = channel.wait_close();
        let status = channel.exit_status().ok();
        self.session.set_timeout(millis(deadline));
        drop(channel);
        if self.watchdog.fired() {
            return Err(timed_out());
        }
        let out = Output {
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        };
        logging::debug(format!(
            "`{command}` exited {}",
            status.map(|s| s.to_string()).unwrap_or_else(|| "?".into())
        ));
        for line in out.stdout.lines() {
            logging::trace(format!("stdout: {line}"));
        }
        for line in out.stderr.lines() {
            logging::trace(format!("stderr: {line}"));
        }
        Ok(out)
    }

    /// Log out and close the connection, bounded by a short wait.
    pub fn close(&mut self) {
        if !self.watchdog.fired() {
            let _armed = self.watchdog.arm(grace_after(Deadline::after(CLEANUP)));
            self.session.set_timeout(millis_of(CLEANUP));
            let _ = self
                .session
                .disconnect(None, &format!("{} done", self.agent), None);
        }
        let _ = self.tcp.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    /// A command given a deadline that has passed still gets the whole
    /// grace before the watchdog may end the session: libssh2's own
    /// timeout fails it first, and the next command can run.
    #[test]
    fn the_grace_counts_from_now_when_the_deadline_has_passed() {
        let now = std::time::Instant::now();
        let past = Deadline::at(now.checked_sub(Duration::from_secs(5)).unwrap_or(now));
        assert!(grace_after(past) >= now + COMMAND_GRACE);
        let later = Deadline::after(Duration::from_secs(10));
        assert_eq!(grace_after(later), later.instant() + COMMAND_GRACE);
    }

    #[test]
    fn every_prompt_gets_the_password_and_empty_rounds_get_nothing() {
        let pw = Secret::new("s3cret pw".into());
        let mut p = PasswordPrompter {
            password: &pw,
            rounds: 0,
        };
        let two = [
            Prompt {
                text: Cow::Borrowed("Password: "),
                echo: false,
            },
            Prompt {
                text: Cow::Borrowed("Password again: "),
                echo: false,
            },
        ];
        assert_eq!(p.prompt("root", "", &two), ["s3cret pw", "s3cret pw"]);
        // Some servers end with a round of zero prompts: answer it with zero
        // responses, not a failure.
        assert!(p.prompt("root", "", &[]).is_empty());
        assert_eq!(p.rounds, 2);
    }
}
