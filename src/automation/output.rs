//! Capturing a function's output: stdout/stderr lines, bounded in memory
//! *while* reading, truncation marked.
//!
//! Owns: [`Capture`] (the pure line splitter with its caps) and
//! [`read_into`] (feeds it from a pipe in fixed-size chunks). Caps: at most
//! `MAX_LINES` lines of at most `MAX_LINE` bytes, `MAX_STREAM` bytes in all
//! per stream; everything past a cap is read and thrown away (so the child
//! never blocks on a full pipe), never buffered. A 300 MB line costs one
//! chunk of memory, not 300 MB. The capture is shared, so lines read before
//! a reader is abandoned are kept.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt};

/// Lines kept per stream.
pub const MAX_LINES: usize = 1000;
/// Bytes kept per line.
pub const MAX_LINE: usize = 8 * 1024;
/// Bytes kept per stream.
pub const MAX_STREAM: usize = 1024 * 1024;
/// Bytes read from a pipe at a time.
const CHUNK: usize = 16 * 1024;

/// Lines captured so far from one stream.
#[derive(Debug, Default)]
pub struct Capture {
    pub lines: Vec<String>,
    /// Something was cut or dropped (a long line, lines past the caps).
    pub truncated: bool,
    kept_bytes: usize,
    /// The line being read (at most `MAX_LINE` bytes of it).
    current: Vec<u8>,
    current_cut: bool,
}

impl Capture {
    /// Takes the next bytes of the stream.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let (part, rest, ended) = match bytes.iter().position(|b| *b == b'\n') {
                Some(i) => (&bytes[..i], &bytes[i + 1..], true),
                None => (bytes, &[][..], false),
            };
            let room = MAX_LINE - self.current.len();
            if part.len() > room {
                self.current_cut = true;
            }
            self.current
                .extend_from_slice(&part[..part.len().min(room)]);
            if ended {
                self.end_line();
            }
            bytes = rest;
        }
    }

    /// The stream ended: keeps a last line without a newline.
    pub fn finish(&mut self) {
        if !self.current.is_empty() || self.current_cut {
            self.end_line();
        }
    }

    fn end_line(&mut self) {
        let mut line = std::mem::take(&mut self.current);
        if std::mem::take(&mut self.current_cut) {
            self.truncated = true;
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if self.lines.len() >= MAX_LINES || self.kept_bytes + line.len() > MAX_STREAM {
            self.truncated = true;
            return;
        }
        self.kept_bytes += line.len();
        self.lines.push(String::from_utf8_lossy(&line).into_owned());
    }

    /// The captured lines, with a closing marker when something was cut.
    pub fn into_lines(mut self) -> (Vec<String>, bool) {
        self.finish();
        if self.truncated {
            self.lines.push(format!(
                "[vcgate: output truncated (at most {MAX_LINES} lines of {MAX_LINE} bytes, {MAX_STREAM} bytes per stream)]"
            ));
        }
        (self.lines, self.truncated)
    }
}

/// Reads `reader` to its end into `capture`, a chunk at a time.
pub async fn read_into<R: AsyncRead + Unpin>(mut reader: R, capture: Arc<Mutex<Capture>>) {
    let mut chunk = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => capture
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .feed(&chunk[..n]),
        }
    }
}

/// Takes what a shared capture holds (its reader may still be running).
pub fn take(capture: &Arc<Mutex<Capture>>) -> (Vec<String>, bool) {
    let captured = std::mem::take(&mut *capture.lock().unwrap_or_else(|p| p.into_inner()));
    captured.into_lines()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(chunks: &[&[u8]]) -> (Vec<String>, bool) {
        let mut c = Capture::default();
        for chunk in chunks {
            c.feed(chunk);
        }
        c.into_lines()
    }

    #[test]
    fn splits_lines_across_chunks() {
        let (lines, truncated) = capture(&[b"one\ntw", b"o\r\nthr", b"ee"]);
        assert_eq!(lines, ["one", "two", "three"]);
        assert!(!truncated);
    }

    #[test]
    fn a_huge_line_is_cut_while_reading() {
        let mut c = Capture::default();
        let block = vec![b'x'; 1 << 20];
        for _ in 0..50 {
            c.feed(&block);
            assert!(
                c.current.len() <= MAX_LINE,
                "never more than one line cap held"
            );
        }
        c.feed(b"\nafter\n");
        let (lines, truncated) = c.into_lines();
        assert!(truncated);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[1], "after");
        assert!(lines[2].starts_with("[vcgate: output truncated"));
    }

    #[test]
    fn lines_and_bytes_are_capped() {
        let many = "l\n".repeat(MAX_LINES + 10);
        let (lines, truncated) = capture(&[many.as_bytes()]);
        assert_eq!(lines.len(), MAX_LINES + 1);
        assert!(truncated);
        let wide = format!("{}\n", "y".repeat(MAX_LINE)).repeat(MAX_STREAM / MAX_LINE + 5);
        let (lines, truncated) = capture(&[wide.as_bytes()]);
        assert_eq!(lines.len(), MAX_STREAM / MAX_LINE + 1);
        assert!(truncated);
    }
}
