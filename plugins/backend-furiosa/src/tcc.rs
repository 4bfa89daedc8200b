//! One `furiosa-tcc` process per kernel × bucket, in its own process group so that a
//! cancel (Ctrl-C, or fast-fail after another kernel failed) kills it and whatever it
//! started, within the poll interval. Its stderr's tail names what went wrong.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use fxb_backend_api::{BackendError, Cancel, ErrorCode};

/// What the reference adds to tcc's environment: its passes recurse deeply.
pub const MIN_STACK: &str = "16777216";
const POLL: Duration = Duration::from_millis(50);
/// Lines of stderr a failure quotes.
const TAIL_LINES: usize = 12;

pub struct Compile<'a> {
    pub tcc: &'a Path,
    pub target_npu: &'a str,
    pub output: &'a Path,
    pub cache_root: Option<&'a Path>,
    pub tc: &'a str,
}

/// Run tcc; `Ok` once it exited 0 and wrote `output`.
pub fn compile(job: &Compile<'_>, cancel: Cancel<'_>) -> Result<(), BackendError> {
    cancel.check()?;
    let mut command = Command::new(job.tcc);
    command
        .args(["--stdin", "--target-npu", job.target_npu, "--output"])
        .arg(job.output);
    if let Some(root) = job.cache_root {
        command.arg("--cache-root").arg(root);
    }
    command
        .env("RUST_MIN_STACK", MIN_STACK)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(|e| {
        BackendError::new(
            ErrorCode::CompileFailed,
            format!("cannot run `{}`: {e}", job.tcc.display()),
        )
    })?;
    let group = i32::try_from(child.id()).unwrap_or(0);
    let kill = || {
        if group > 0 {
            // SAFETY: a plain kill(2) of the process group we created.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
    };
    // stdin and stderr on their own threads: a large TC must not block on a full pipe.
    let stdin = child.stdin.take();
    let tc = job.tc.to_string();
    let writer = std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(tc.as_bytes());
        }
    });
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || tail(stderr));
    let status = loop {
        if cancel.is_cancelled() {
            kill();
            let _ = child.wait();
            let _ = writer.join();
            let _ = reader.join();
            return Err(BackendError::cancelled());
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                kill();
                let _ = child.wait();
                return Err(BackendError::new(
                    ErrorCode::CompileFailed,
                    format!("waiting for furiosa-tcc: {e}"),
                ));
            }
        }
    };
    // Anything tcc left running in its group goes with it.
    kill();
    let _ = writer.join();
    let tail = reader.join().unwrap_or_default();
    if !status.success() {
        let how = status.code().map_or_else(
            || "was killed by a signal".to_string(),
            |c| format!("exited with {c}"),
        );
        let quoted = if tail.is_empty() {
            "(no output on stderr)".to_string()
        } else {
            tail
        };
        return Err(BackendError::new(
            ErrorCode::CompileFailed,
            format!(
                "furiosa-tcc --target-npu {} {how}: {quoted}",
                job.target_npu
            ),
        ));
    }
    if !job.output.is_file() {
        return Err(BackendError::new(
            ErrorCode::CompileFailed,
            format!(
                "furiosa-tcc exited 0 but wrote no `{}`",
                job.output.display()
            ),
        ));
    }
    Ok(())
}

/// The last lines of `stream`, without terminal colours, joined by ` | `.
fn tail(stream: Option<impl Read>) -> String {
    let Some(mut stream) = stream else {
        return String::new();
    };
    let mut lines: VecDeque<String> = VecDeque::new();
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buffer.extend_from_slice(&chunk[..n]);
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            push(&mut lines, &line);
        }
    }
    push(&mut lines, &buffer);
    lines.into_iter().collect::<Vec<_>>().join(" | ")
}

fn push(lines: &mut VecDeque<String>, raw: &[u8]) {
    let text = strip_ansi(&String::from_utf8_lossy(raw));
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    if lines.len() == TAIL_LINES {
        lines.pop_front();
    }
    lines.push_back(text.to_string());
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ ... final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
