//! File writing on its own thread: the plan stage fills 1 MiB buffers and hands them over,
//! so the kernel's copy into the page cache does not sit on the plan stage's critical path.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::thread::JoinHandle;

const BUFFER_BYTES: usize = 1 << 20;
const BUFFERS_IN_FLIGHT: usize = 2;

enum Message {
    Open(PathBuf),
    Data(Vec<u8>),
}

/// Writes a sequence of files, one after another, on a background thread.
pub(crate) struct BackgroundWriter {
    buffer: Vec<u8>,
    sender: Option<crossbeam_channel::Sender<Message>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl BackgroundWriter {
    pub(crate) fn new() -> Self {
        let (sender, receiver) = crossbeam_channel::bounded::<Message>(BUFFERS_IN_FLIGHT);
        let thread = std::thread::spawn(move || -> std::io::Result<()> {
            let mut file: Option<File> = None;
            for message in receiver {
                match message {
                    Message::Open(path) => file = Some(File::create(path)?),
                    Message::Data(bytes) => {
                        if let Some(file) = &mut file {
                            file.write_all(&bytes)?;
                        }
                    }
                }
            }
            Ok(())
        });
        Self {
            buffer: Vec::with_capacity(BUFFER_BYTES),
            sender: Some(sender),
            thread: Some(thread),
        }
    }

    /// Start a new file; what was written before goes to the previous one.
    pub(crate) fn open(&mut self, path: PathBuf) -> std::io::Result<()> {
        self.flush()?;
        self.send(Message::Open(path))
    }

    /// Append bytes to the current file.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.buffer.len() + bytes.len() > BUFFER_BYTES {
            self.flush()?;
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buffer, Vec::with_capacity(BUFFER_BYTES));
        self.send(Message::Data(full))
    }

    fn send(&mut self, message: Message) -> std::io::Result<()> {
        let delivered = self
            .sender
            .as_ref()
            .is_some_and(|sender| sender.send(message).is_ok());
        if delivered { Ok(()) } else { self.finish() }
    }

    /// Write what is left and wait for the thread; its first error, if any.
    pub(crate) fn finish(&mut self) -> std::io::Result<()> {
        if self.sender.is_some() && !self.buffer.is_empty() {
            let rest = std::mem::take(&mut self.buffer);
            if let Some(sender) = &self.sender {
                let _ = sender.send(Message::Data(rest));
            }
        }
        self.sender = None;
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the file writer thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
