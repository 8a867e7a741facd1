//! The client side of remote mode: the engine's senders ([`run_senders`]) driven against a
//! `copybench server`.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use copybench_core::engine::{assemble_point, run_senders, EngineError, PointParams};
use copybench_core::result::{HostInfo, Point};

use super::auth::{hex, nonce, parse_nonce, AuthKey, Side};
use super::protocol::{read_frame, write_frame, Message, CONTROL_TIMEOUT, PROTOCOL_VERSION};
use crate::hooks::CliHooks;
use crate::UsageError;

/// A client's control connection to a server.
pub struct Client {
    control: TcpStream,
    server: SocketAddr,
    host: Option<HostInfo>,
    /// Why the session is over (the server closed it: shutdown, a limit, an error); no more
    /// points can run.
    ended: Mutex<Option<String>>,
}

impl Client {
    /// Connects and shakes hands (authenticating with `key` when given); errors say what to
    /// do. A server that refuses (busy, wrong key) is an error, not a usage error: exit 1.
    pub fn connect(target: &str, key: Option<&AuthKey>) -> Result<Client> {
        let server = target
            .to_socket_addrs()
            .map_err(|e| UsageError(format!("--connect {target}: not a host:port ({e})")))?
            .next()
            .ok_or_else(|| {
                UsageError(format!(
                    "--connect {target}: the name resolves to no address"
                ))
            })?;
        let control = TcpStream::connect_timeout(&server, Duration::from_secs(10)).map_err(|e| {
            UsageError(format!(
                "--connect {target}: cannot reach a copybench server at {server}: {e}; start `copybench server --listen ADDR:PORT` there"
            ))
        })?;
        control.set_read_timeout(Some(CONTROL_TIMEOUT))?;
        control.set_nodelay(true)?;
        let host = handshake(&control, server, key)?;
        Ok(Client {
            control,
            server,
            host,
            ended: Mutex::new(None),
        })
    }

    /// The server's control address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The receiving host's facts, as its server told them.
    pub fn host(&self) -> Option<&HostInfo> {
        self.host.as_ref()
    }

    /// Why the server ended the session, if it did: the sweep cannot go on.
    pub fn ended(&self) -> Option<String> {
        self.ended.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records that the session is over and returns the error for the current point.
    fn end(&self, why: String) -> EngineError {
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        ended.get_or_insert_with(|| why.clone());
        EngineError::Remote(why)
    }

    /// Runs one point against the server.
    pub fn run_point(
        &self,
        params: &PointParams,
        hooks: &CliHooks<'_>,
        cancel: &AtomicBool,
    ) -> Result<Point, EngineError> {
        if let Some(why) = self.ended() {
            return Err(EngineError::Remote(why));
        }
        let prepare = Message::Prepare {
            params: params.clone(),
        };
        write_frame(&self.control, &prepare).map_err(|e| self.end(e.to_string()))?;
        let ports = match read_frame(&self.control) {
            Ok(Message::Ready { ports }) if ports.len() == params.threads => ports,
            Ok(Message::Error {
                message,
                closing: true,
            }) => return Err(self.end(message)),
            Ok(Message::Error { message, .. }) => return Err(EngineError::Remote(message)),
            Ok(other) => return Err(self.end(format!("answered {} to prepare", other.kind()))),
            Err(e) => return Err(self.end(e.to_string())),
        };
        let targets: Vec<SocketAddr> = ports
            .iter()
            .map(|&p| SocketAddr::new(self.server.ip(), p))
            .collect();
        let on_phase = |phase: u8| {
            let _ = write_frame(&self.control, &Message::Phase { phase });
        };
        let sent = run_senders(params, &targets, hooks, cancel, &on_phase);
        // The server answers after every point, whatever happened on our side; when it ended
        // the session (e.g. it is shutting down), that is the news, not our broken sends.
        match (sent, read_frame(&self.control)) {
            (
                _,
                Ok(Message::Error {
                    message,
                    closing: true,
                }),
            ) => Err(self.end(message)),
            (sent, Err(e)) => {
                let lost = self.end(e.to_string());
                Err(sent.err().unwrap_or(lost))
            }
            (Err(e), _) => Err(e),
            (
                Ok((senders, system_cpu)),
                Ok(Message::Report {
                    receivers,
                    system_cpu: receiver_cpu,
                }),
            ) => {
                let mut point = assemble_point(params, &senders, &receivers, system_cpu);
                point.receiver_system_cpu = receiver_cpu;
                Ok(point)
            }
            (Ok(_), Ok(Message::Error { message, .. })) => Err(EngineError::Remote(message)),
            (Ok(_), Ok(other)) => {
                Err(self.end(format!("answered {} after the point", other.kind())))
            }
        }
    }
}

/// `hello`, then the server's challenge when it has a key (checked first: a server that
/// does not hold the key is not the one meant), then `welcome`. Returns the server's host.
fn handshake(
    control: &TcpStream,
    server: SocketAddr,
    key: Option<&AuthKey>,
) -> Result<Option<HostInfo>> {
    let client_nonce = nonce().context("no random numbers for the handshake")?;
    write_frame(
        control,
        &Message::Hello {
            protocol: PROTOCOL_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            nonce: Some(hex(&client_nonce)),
        },
    )
    .context("handshake with the server")?;
    let mut answer = read_frame(control);
    if let Ok(Message::Challenge { nonce, proof }) = &answer {
        let Some(key) = key else {
            bail!(
                "the server at {server} requires authentication: give --auth-key-file with its key"
            );
        };
        let server_nonce =
            parse_nonce(nonce).context("the server's challenge has no valid nonce")?;
        if !key.verify(Side::Server, &client_nonce, &server_nonce, proof) {
            bail!(
                "the server at {server} does not hold the key of --auth-key-file (not the server meant, or a different key): refusing to run"
            );
        }
        let proof = key.proof(Side::Client, &client_nonce, &server_nonce);
        write_frame(control, &Message::Auth { proof }).context("handshake with the server")?;
        answer = read_frame(control);
    }
    match answer {
        Ok(Message::Welcome {
            authenticated: false,
            ..
        }) if key.is_some() => bail!(
            "--auth-key-file was given but the server at {server} does not authenticate (start it with --auth-key-file): refusing to run"
        ),
        Ok(Message::Welcome { host, .. }) => Ok(host),
        Ok(Message::Error { message, .. }) => bail!("the server refused: {message}"),
        Ok(other) => bail!("the server answered {} to hello", other.kind()),
        Err(e) => Err(e).context("handshake with the server"),
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.ended().is_none() {
            let _ = write_frame(&self.control, &Message::Bye);
        }
    }
}
