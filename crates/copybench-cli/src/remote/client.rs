//! The client side of remote mode: the engine's senders ([`run_senders`]) driven against a
//! `copybench server`.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result};
use copybench_core::engine::{assemble_point, run_senders, EngineError, PointParams};
use copybench_core::result::Point;

use super::protocol::{read_frame, write_frame, Message, CONTROL_TIMEOUT, PROTOCOL_VERSION};
use crate::hooks::CliHooks;
use crate::UsageError;

/// A client's control connection to a server.
pub struct Client {
    control: TcpStream,
    server: SocketAddr,
}

impl Client {
    /// Connects and shakes hands; errors say what to do.
    pub fn connect(target: &str) -> Result<Client> {
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
        write_frame(
            &control,
            &Message::Hello {
                protocol: PROTOCOL_VERSION,
                tool_version: env!("CARGO_PKG_VERSION").into(),
            },
        )?;
        match read_frame(&control) {
            Ok(Message::Welcome { .. }) => Ok(Client { control, server }),
            Ok(Message::Error { message }) => {
                Err(UsageError(format!("the server refused: {message}")).into())
            }
            Ok(other) => anyhow::bail!("the server answered {} to hello", other.kind()),
            Err(e) => Err(e).context("handshake with the server"),
        }
    }

    /// The server's control address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Runs one point against the server.
    pub fn run_point(
        &self,
        params: &PointParams,
        hooks: &CliHooks<'_>,
        cancel: &AtomicBool,
    ) -> Result<Point, EngineError> {
        let remote = |what: String| EngineError::Remote(what);
        write_frame(
            &self.control,
            &Message::Prepare {
                params: params.clone(),
            },
        )
        .map_err(|e| remote(e.to_string()))?;
        let ports = match read_frame(&self.control) {
            Ok(Message::Ready { ports }) if ports.len() == params.threads => ports,
            Ok(Message::Error { message }) => return Err(remote(message)),
            Ok(other) => return Err(remote(format!("answered {} to prepare", other.kind()))),
            Err(e) => return Err(remote(e.to_string())),
        };
        let targets: Vec<SocketAddr> = ports
            .iter()
            .map(|&p| SocketAddr::new(self.server.ip(), p))
            .collect();
        let on_phase = |phase: u8| {
            let _ = write_frame(&self.control, &Message::Phase { phase });
        };
        let sent = run_senders(params, &targets, hooks, cancel, &on_phase);
        // The server answers after every point, whatever happened on our side.
        let answer = read_frame(&self.control);
        let (senders, system_cpu) = sent?;
        match answer {
            Ok(Message::Report { receivers }) => {
                Ok(assemble_point(params, &senders, &receivers, system_cpu))
            }
            Ok(Message::Error { message }) => Err(remote(message)),
            Ok(other) => Err(remote(format!("answered {} after the point", other.kind()))),
            Err(e) => Err(remote(e.to_string())),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = write_frame(&self.control, &Message::Bye);
    }
}
