//! One server, one kept-alive connection, one request at a time.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;

use agent_framework::{logging, Deadline};

use crate::endpoint::{Endpoint, Family};
use crate::error::{Error, Malformed, Stage};
use crate::message::{encode_request, io_error, read_response, Limits, Method, Received, Response};
use crate::resolve::{addresses, connect, Resolver, SystemResolver};
use crate::stream::{DeadlineStream, Wire};
use crate::tls::{handshake_error, setup, TlsPolicy, TlsSetup};

/// What every clone of a client shares; nothing in it changes.
#[derive(Clone)]
struct Settings {
    endpoint: Endpoint,
    family: Family,
    scheme: &'static str,
    tls: Option<TlsSetup>,
    resolver: Arc<dyn Resolver>,
    limits: Limits,
}

struct Connection {
    reader: BufReader<Wire>,
}

/// A blocking HTTP/1.1 client for one endpoint. It keeps its connection
/// open between requests and opens a new one when the server has closed
/// it. A clone shares the settings but opens its own connection: the
/// signal-handling thread logs out with a clone while the main thread may
/// be blocked in a request on the original.
pub struct Client {
    settings: Arc<Settings>,
    /// Resolved once per client: a reconnection does not ask DNS again.
    addresses: Option<Vec<SocketAddr>>,
    connection: Option<Connection>,
}

impl Clone for Client {
    fn clone(&self) -> Client {
        Client {
            settings: Arc::clone(&self.settings),
            addresses: self.addresses.clone(),
            connection: None,
        }
    }
}

/// A failed exchange, and whether the server had sent nothing yet: then a
/// reused connection had been closed under us and an idempotent request
/// may be sent again on a new one.
struct Failure {
    error: Error,
    nothing_received: bool,
}

impl Client {
    /// A client for `endpoint`. A CA file that cannot be used, or a system
    /// trust store without any CA, fails here with [`Error::Tls`]; nothing
    /// is resolved or connected until the first request.
    pub fn new(endpoint: Endpoint, policy: &TlsPolicy, family: Family) -> Result<Client, Error> {
        Ok(Client {
            settings: Arc::new(Settings {
                endpoint,
                family,
                scheme: policy.scheme(),
                tls: setup(policy)?,
                resolver: Arc::new(SystemResolver),
                limits: Limits::default(),
            }),
            addresses: None,
            connection: None,
        })
    }

    /// The same client resolving host names with `resolver`.
    pub fn with_resolver(self, resolver: Arc<dyn Resolver>) -> Client {
        self.with_settings(|s| s.resolver = resolver)
    }

    /// The same client with other response limits.
    pub fn with_limits(self, limits: Limits) -> Client {
        self.with_settings(|s| s.limits = limits)
    }

    fn with_settings(self, change: impl FnOnce(&mut Settings)) -> Client {
        let mut settings = (*self.settings).clone();
        change(&mut settings);
        Client {
            settings: Arc::new(settings),
            addresses: None,
            connection: None,
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.settings.endpoint
    }

    /// `scheme://host:port` followed by `path`, for messages.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}://{}{path}",
            self.settings.scheme,
            self.settings.endpoint.authority()
        )
    }

    /// Closes the kept-alive connection, if any.
    pub fn disconnect(&mut self) {
        self.connection = None;
    }

    /// Sends one request and reads its response, all before `deadline`:
    /// name resolution, connection, TLS handshake, sending and reading. Any
    /// status is a response; redirections are not followed. The request's
    /// header values and body appear in no error and no log line.
    pub fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        deadline: Deadline,
    ) -> Result<Response, Error> {
        let bytes = encode_request(
            method,
            &self.settings.endpoint.authority(),
            path,
            headers,
            body,
        )?;
        if logging::enabled(logging::Level::Trace) {
            logging::trace(format!("HTTP {method} {}", self.url(path)));
        }
        let reused = self.connection.take().and_then(|mut c| {
            if c.reader.buffer().is_empty() && c.reader.get_mut().idle_and_open() {
                Some(c)
            } else {
                logging::debug("HTTP: the server closed the idle connection; opening another");
                None
            }
        });
        let was_reused = reused.is_some();
        let mut connection = match reused {
            Some(c) => c,
            None => self.open(deadline)?,
        };
        let limits = self.settings.limits;
        let received = match exchange(&mut connection, &bytes, method, &limits, deadline) {
            Err(failure) if was_reused && failure.nothing_received && method.idempotent() => {
                logging::debug(format!(
                    "HTTP: the kept-alive connection failed ({}); sending again on a new one",
                    failure.error
                ));
                connection = self.open(deadline)?;
                exchange(&mut connection, &bytes, method, &limits, deadline)
            }
            other => other,
        }
        .map_err(|f| f.error)?;
        if logging::enabled(logging::Level::Trace) {
            logging::trace(format!(
                "HTTP {method} {}: status {}, {} bytes",
                self.url(path),
                received.response.status,
                received.response.body.len()
            ));
        }
        if received.reusable {
            self.connection = Some(connection);
        }
        Ok(received.response)
    }

    fn open(&mut self, deadline: Deadline) -> Result<Connection, Error> {
        let addrs = match &self.addresses {
            Some(addrs) => addrs.clone(),
            None => {
                let s = &self.settings;
                let addrs = addresses(&s.resolver, &s.endpoint, s.family, deadline)?;
                self.addresses = Some(addrs.clone());
                addrs
            }
        };
        let socket = DeadlineStream::new(connect(&addrs, deadline)?, deadline);
        let wire = match &self.settings.tls {
            None => Wire::Plain(socket),
            Some(tls) => Wire::Tls(Box::new(handshake(
                tls,
                &self.settings.endpoint.host,
                socket,
            )?)),
        };
        Ok(Connection {
            reader: BufReader::with_capacity(16 * 1024, wire),
        })
    }
}

fn handshake(
    tls: &TlsSetup,
    host: &str,
    mut socket: DeadlineStream,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, DeadlineStream>, Error> {
    // An address literal becomes an IP name: rustls then checks the
    // certificate's IP SANs and sends no SNI.
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| Error::Tls(format!("{host:?} is not a host name TLS can verify")))?;
    let mut conn = rustls::ClientConnection::new(Arc::clone(&tls.config), name.clone())
        .map_err(|e| Error::Tls(format!("cannot start the TLS handshake: {e}")))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut socket)
            .map_err(|e| handshake_error(e, &name, &tls.trust))?;
    }
    if logging::enabled(logging::Level::Debug) {
        logging::debug(format!(
            "HTTP: TLS {:?} with {:?} to {}",
            conn.protocol_version(),
            conn.negotiated_cipher_suite().map(|s| s.suite()),
            socket
                .peer()
                .map_or_else(|| host.to_string(), |a| a.to_string())
        ));
    }
    Ok(rustls::StreamOwned::new(conn, socket))
}

fn exchange(
    connection: &mut Connection,
    request: &[u8],
    method: Method,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Received, Failure> {
    let wire = connection.reader.get_mut();
    wire.set_deadline(deadline);
    if let Err(e) = wire.write_all(request).and_then(|()| wire.flush()) {
        let error = io_error(Stage::Send, e);
        let nothing_received = !matches!(error, Error::Timeout { .. });
        return Err(Failure {
            error,
            nothing_received,
        });
    }
    match connection.reader.fill_buf() {
        Ok([]) => {
            return Err(Failure {
                error: Error::Protocol(Malformed::Truncated(Stage::StatusLine)),
                nothing_received: true,
            })
        }
        Ok(_) => {}
        Err(e) => {
            let error = io_error(Stage::StatusLine, e);
            let nothing_received = matches!(
                error,
                Error::Io { .. } | Error::Protocol(Malformed::Truncated(_))
            );
            return Err(Failure {
                error,
                nothing_received,
            });
        }
    }
    let fail = |error| Failure {
        error,
        nothing_received: false,
    };
    let received = read_response(&mut connection.reader, method, limits).map_err(fail)?;
    if received.reusable && !connection.reader.buffer().is_empty() {
        return Err(fail(Error::Protocol(Malformed::ExcessData)));
    }
    Ok(received)
}
