//! `copybench server`: a thin transport over the engine's receivers
//! ([`copybench_core::engine::run_receivers`]).

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};

use anyhow::Result;
use copybench_core::engine::{run_receivers, Phase, PointParams};

use super::protocol::{
    read_frame, write_frame, FrameError, Message, CONTROL_TIMEOUT, PROTOCOL_VERSION,
};
use crate::hooks::CliHooks;
use crate::UsageError;

/// Serves clients until the process is stopped. Prints the bound address first.
pub fn serve(listen: SocketAddr, counters: bool) -> Result<()> {
    let listener = TcpListener::bind(listen)
        .map_err(|e| UsageError(format!("--listen {listen}: cannot listen: {e}")))?;
    let bound = listener.local_addr()?;
    println!("copybench server listening on {bound} (protocol {PROTOCOL_VERSION})");
    std::io::stdout().flush()?;
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        std::thread::spawn(move || {
            let peer = conn.peer_addr().map_or("?".into(), |a| a.to_string());
            match serve_client(conn, counters) {
                Ok(points) => eprintln!("{peer}: done after {points} points"),
                Err(e) => eprintln!("{peer}: {e}"),
            }
        });
    }
    Ok(())
}

/// Answers an error frame and ends the connection; returns the message for the server's log.
fn refuse(control: &TcpStream, message: String) -> String {
    let _ = write_frame(
        control,
        &Message::Error {
            message: message.clone(),
        },
    );
    let _ = control.shutdown(std::net::Shutdown::Both);
    message
}

/// The version handshake: `hello` must come first and name our protocol version.
fn handshake(control: &TcpStream) -> Result<(), String> {
    match read_frame(control) {
        Ok(Message::Hello { protocol, .. }) if protocol == PROTOCOL_VERSION => {}
        Ok(Message::Hello {
            protocol,
            tool_version,
        }) => {
            return Err(refuse(
                control,
                format!(
                    "protocol version {protocol} (copybench {tool_version}) is not supported: this server \
                     (copybench {}) speaks version {PROTOCOL_VERSION}; run the same copybench version on both hosts",
                    env!("CARGO_PKG_VERSION")
                ),
            ))
        }
        Ok(other) => {
            return Err(refuse(
                control,
                format!("expected hello, got {}", other.kind()),
            ))
        }
        Err(e) => return Err(refuse(control, e.to_string())),
    }
    write_frame(
        control,
        &Message::Welcome {
            protocol: PROTOCOL_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").into(),
        },
    )
    .map_err(|e| e.to_string())
}

/// One client's session: points until `bye`. Returns the number of points served.
fn serve_client(control: TcpStream, counters: bool) -> Result<usize, String> {
    control
        .set_read_timeout(Some(CONTROL_TIMEOUT))
        .map_err(|e| e.to_string())?;
    handshake(&control)?;
    let local_ip = control.local_addr().map_err(|e| e.to_string())?.ip();
    let hooks = CliHooks::new(None, None, counters);
    let mut points = 0;
    loop {
        match read_frame(&control) {
            Ok(Message::Prepare { params }) => {
                if let Err(e) = params.validate() {
                    return Err(refuse(&control, format!("invalid parameters: {e}")));
                }
                if params.corrupt_message.is_some() {
                    return Err(refuse(
                        &control,
                        "corrupt_message is a test hook of the local engine; a server does not accept it"
                            .into(),
                    ));
                }
                let reply = receive_point(&control, local_ip, &params, &hooks)?;
                write_frame(&control, &reply).map_err(|e| e.to_string())?;
                points += 1;
            }
            Ok(Message::Bye) | Err(FrameError::Closed) => return Ok(points),
            Ok(other) => {
                return Err(refuse(
                    &control,
                    format!("expected prepare or bye, got {}", other.kind()),
                ))
            }
            Err(e) => return Err(refuse(&control, e.to_string())),
        }
    }
}

/// One point's receiving side; returns the `report` (or `error`) to send back, or ends the
/// session when the control connection failed.
fn receive_point(
    control: &TcpStream,
    ip: IpAddr,
    params: &PointParams,
    hooks: &CliHooks<'_>,
) -> Result<Message, String> {
    let (reports, control_error) = run_receivers(params, ip, hooks, |ports, phase| {
        write_frame(
            control,
            &Message::Ready {
                ports: ports.to_vec(),
            },
        )
        .map_err(|e| e.to_string())?;
        follow_phases(control, phase)
    });
    if let Some(Err(e)) = control_error {
        return Err(refuse(control, e));
    }
    Ok(match reports {
        Ok(receivers) => Message::Report { receivers },
        Err(e) => Message::Error {
            message: e.to_string(),
        },
    })
}

/// Moves the receivers' phase as the client's `phase` messages say, until `STOP`.
fn follow_phases(control: &TcpStream, phase: &Phase) -> Result<(), String> {
    while phase.get() != Phase::STOP {
        match read_frame(control) {
            Ok(Message::Phase { phase: p }) if p <= Phase::STOP => phase.advance(p),
            Ok(other) => return Err(format!("expected phase, got {}", other.kind())),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}
