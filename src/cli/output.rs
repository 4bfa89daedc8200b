//! Where output goes: data to stdout (buffered, so a large report costs few writes),
//! JSON in one place, and the colour decision (`NO_COLOR`, a terminal, `--no-color`).

use std::io::{BufWriter, IsTerminal, StdoutLock, Write};

use serde::Serialize;

/// Buffered stdout. Call [`Stdout::finish`] to flush and surface a closed pipe.
pub struct Stdout {
    inner: BufWriter<StdoutLock<'static>>,
}

impl Stdout {
    pub fn new() -> Self {
        Stdout {
            inner: BufWriter::new(std::io::stdout().lock()),
        }
    }

    pub fn line(&mut self, text: &str) -> std::io::Result<()> {
        self.inner.write_all(text.as_bytes())?;
        self.inner.write_all(b"\n")
    }

    pub fn raw(&mut self, text: &str) -> std::io::Result<()> {
        self.inner.write_all(text.as_bytes())
    }

    /// Pretty JSON and a newline.
    pub fn json<T: Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        serde_json::to_writer_pretty(&mut self.inner, value)?;
        self.inner.write_all(b"\n")?;
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// ANSI colour on stdout: only on a terminal, never with `NO_COLOR` or `--no-color`.
pub fn stdout_color(disabled_by_flag: bool) -> bool {
    !disabled_by_flag && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}
