//! A small client of the QEMU guest agent over the guest's virtio-serial channel (a UNIX
//! socket on the host): line-delimited JSON like QMP, but with no greeting and no
//! capabilities; a `guest-sync` with a fresh id first drops whatever an earlier, abandoned
//! exchange left in the channel. Only what the driver needs: setting a user's password.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// How long a guest has to answer; a guest without the agent never does.
pub const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum QgaError {
    #[error("the guest agent socket {0}: {1}")]
    Io(String, std::io::Error),
    #[error("the guest agent refused {command}: {desc}")]
    Command { command: String, desc: String },
    #[error("the guest agent did not answer in {0:?} (is qemu-guest-agent running in the guest?)")]
    Timeout(Duration),
}

/// Sets `user`'s password in the guest behind `socket`.
pub async fn set_user_password(socket: &Path, user: &str, password: &str, timeout: Duration) -> Result<(), QgaError> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(password.as_bytes());
    let args = json!({"username": user, "password": encoded, "crypted": false});
    match tokio::time::timeout(timeout, session(socket, "guest-set-user-password", args)).await {
        Ok(r) => r.map(|_| ()),
        Err(_) => Err(QgaError::Timeout(timeout)),
    }
}

async fn session(socket: &Path, command: &str, arguments: Value) -> Result<Value, QgaError> {
    let io = |e| QgaError::Io(socket.display().to_string(), e);
    let stream = UnixStream::connect(socket).await.map_err(io)?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let sync_id: u32 = rand::random::<u32>() >> 1;
    let send = |v: Value| {
        let mut text = v.to_string();
        text.push('\n');
        text
    };
    write
        .write_all(send(json!({"execute": "guest-sync", "arguments": {"id": sync_id}})).as_bytes())
        .await
        .map_err(io)?;
    // Answers to anything sent before this sync are skipped until the sync's own.
    loop {
        let line = lines.next_line().await.map_err(io)?.ok_or_else(|| {
            io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the channel closed"))
        })?;
        if serde_json::from_str::<Value>(line.trim_start_matches('\u{ff}')).ok().and_then(|v| v.get("return").cloned())
            == Some(json!(sync_id))
        {
            break;
        }
    }
    write
        .write_all(send(json!({"execute": command, "arguments": arguments})).as_bytes())
        .await
        .map_err(io)?;
    loop {
        let line = lines.next_line().await.map_err(io)?.ok_or_else(|| {
            io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the channel closed"))
        })?;
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(e) = v.get("error") {
            return Err(QgaError::Command {
                command: command.to_owned(),
                desc: e["desc"].as_str().unwrap_or_default().to_owned(),
            });
        }
        if let Some(r) = v.get("return") {
            return Ok(r.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A guest agent that answers syncs and records the password it was asked to set.
    async fn agent(listener: UnixListener, refuse: bool) -> Value {
        let (stream, _) = listener.accept().await.expect("accept");
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        // Something stale from an earlier exchange comes first, as it can on a real channel.
        write.write_all(b"{\"return\": {}}\n").await.expect("write");
        while let Some(line) = lines.next_line().await.expect("read") {
            let v: Value = serde_json::from_str(&line).expect("json");
            match v["execute"].as_str() {
                Some("guest-sync") => {
                    let answer = json!({"return": v["arguments"]["id"]}).to_string() + "\n";
                    write.write_all(answer.as_bytes()).await.expect("write");
                }
                Some("guest-set-user-password") => {
                    let answer = if refuse {
                        json!({"error": {"class": "GenericError", "desc": "user nobody does not exist"}})
                    } else {
                        json!({"return": {}})
                    };
                    write.write_all((answer.to_string() + "\n").as_bytes()).await.expect("write");
                    return v["arguments"].clone();
                }
                _ => {}
            }
        }
        Value::Null
    }

    #[tokio::test]
    async fn the_password_goes_base64_after_a_sync() {
        let dir = tempfile::tempdir().expect("tmp");
        let sock = dir.path().join("qga.sock");
        let listener = UnixListener::bind(&sock).expect("bind");
        let guest = tokio::spawn(agent(listener, false));
        set_user_password(&sock, "root", "s3cret pass", TIMEOUT).await.expect("set");
        let args = guest.await.expect("agent");
        assert_eq!(args["username"], "root");
        assert_eq!(args["crypted"], false);
        assert_eq!(args["password"], base64::engine::general_purpose::STANDARD.encode("s3cret pass"));
    }

    #[tokio::test]
    async fn a_refusal_and_a_silent_guest_are_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let sock = dir.path().join("qga.sock");
        let listener = UnixListener::bind(&sock).expect("bind");
        tokio::spawn(agent(listener, true));
        let e = set_user_password(&sock, "nobody", "x", TIMEOUT).await.unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");

        // A channel nobody answers on (no agent in the guest) times out.
        let silent = dir.path().join("silent.sock");
        let _held = UnixListener::bind(&silent).expect("bind");
        let e = set_user_password(&silent, "root", "x", Duration::from_millis(300)).await.unwrap_err();
        assert!(matches!(e, QgaError::Timeout(_)), "{e}");
    }
}
