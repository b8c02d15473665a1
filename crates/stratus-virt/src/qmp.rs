//! A small typed client of QEMU's machine protocol (QMP) over its UNIX socket: line-delimited
//! JSON, a greeting, `qmp_capabilities`, then commands answered by `return` or `error` with
//! events interleaved. Each call opens its own connection, so a restarted agent needs no
//! state to talk to guests it did not start. (The `qapi` crate generates the whole schema; the
//! driver uses a dozen commands, and a hand-written enum of them would be as long.)

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("QMP socket {0}: {1}")]
    Io(String, std::io::Error),
    #[error("QMP command {command} failed: {class}: {desc}")]
    Command {
        command: String,
        class: String,
        desc: String,
    },
    #[error("QMP: {0}")]
    Protocol(String),
    #[error("QMP command {0} got no answer in time")]
    Timeout(String),
}

/// The longest a command may take; QEMU answers every command the driver sends at once.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Runs `command` with `arguments` on the guest whose QMP socket is `socket`; returns the
/// `return` value.
pub async fn execute(socket: &Path, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
    match tokio::time::timeout(TIMEOUT, session(socket, command, arguments)).await {
        Ok(r) => r,
        Err(_) => Err(QmpError::Timeout(command.to_owned())),
    }
}

async fn session(socket: &Path, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
    let io = |e| QmpError::Io(socket.display().to_string(), e);
    let stream = UnixStream::connect(socket).await.map_err(io)?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let greeting = next(&mut lines).await.map_err(io)?;
    if greeting.get("QMP").is_none() {
        return Err(QmpError::Protocol(format!("unexpected greeting {greeting}")));
    }
    for (id, (cmd, args)) in [("qmp_capabilities", None), (command, arguments)]
        .into_iter()
        .enumerate()
    {
        let mut msg = json!({"execute": cmd, "id": id});
        if let Some(a) = args {
            msg["arguments"] = a;
        }
        let mut text = msg.to_string();
        text.push('\n');
        write.write_all(text.as_bytes()).await.map_err(io)?;
        loop {
            let v = next(&mut lines).await.map_err(io)?;
            if v.get("event").is_some() || v["id"] != json!(id) {
                continue;
            }
            if let Some(e) = v.get("error") {
                return Err(QmpError::Command {
                    command: cmd.to_owned(),
                    class: e["class"].as_str().unwrap_or_default().to_owned(),
                    desc: e["desc"].as_str().unwrap_or_default().to_owned(),
                });
            }
            if id == 1 {
                return Ok(v.get("return").cloned().unwrap_or(Value::Null));
            }
            break;
        }
    }
    Err(QmpError::Protocol("no answer".into()))
}

async fn next(lines: &mut tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>) -> std::io::Result<Value> {
    loop {
        match lines.next_line().await? {
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "QEMU closed the connection",
                ))
            }
            Some(l) if l.trim().is_empty() => continue,
            Some(l) => {
                return serde_json::from_str(&l)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e}: {l}")))
            }
        }
    }
}
