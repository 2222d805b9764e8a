//! A durable local log of records, one per line: what `canhgac run` keeps beside its index
//! in place of a Kafka topic that must outlive the index (`<data_dir>/incident-events.jsonl`).
//!
//! [`Journal::append`] returns once the line is on disk (`fdatasync`). [`Journal::open`] reads
//! the lines already there; a torn last line (a crash in the middle of a write) is cut off, so
//! the file stays a sequence of whole records ([`Journal::torn`] says how much, for the caller's
//! log). Blocking: call from a thread that may block.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::CoreError;

/// An append-only file of newline-terminated records.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    torn: u64,
}

impl Journal {
    /// Opens (creating) the journal and returns it with the records it holds, oldest first.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Vec<u8>>), CoreError> {
        let read_err = |source| CoreError::Read {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(read_err)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(read_err)?;
        let mut records = Vec::new();
        let mut whole = 0u64;
        {
            let mut reader = BufReader::new(&file);
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = reader.read_until(b'\n', &mut line).map_err(read_err)?;
                if n == 0 || line.last() != Some(&b'\n') {
                    break;
                }
                whole += n as u64;
                line.pop();
                if !line.is_empty() {
                    records.push(line.clone());
                }
            }
        }
        let len = file.metadata().map_err(read_err)?.len();
        let torn = len.saturating_sub(whole);
        if torn > 0 {
            file.set_len(whole).map_err(read_err)?;
            file.sync_all().map_err(read_err)?;
        }
        file.seek(SeekFrom::End(0)).map_err(read_err)?;
        Ok((
            Journal {
                path: path.to_path_buf(),
                file: Mutex::new(file),
                torn,
            },
            records,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of a record torn by a crash that [`Journal::open`] cut from the end (0 if none).
    pub fn torn(&self) -> u64 {
        self.torn
    }

    /// Appends one record (it must not contain a newline) and waits until it is on disk.
    pub fn append(&self, record: &[u8]) -> Result<(), CoreError> {
        if record.contains(&b'\n') {
            return Err(CoreError::Invalid {
                origin: self.path.display().to_string(),
                key: "record".into(),
                message: "a journal record must not contain a newline".into(),
            });
        }
        let err = |source| CoreError::Read {
            path: self.path.clone(),
            source,
        };
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let mut buf = Vec::with_capacity(record.len() + 1);
        buf.extend_from_slice(record);
        buf.push(b'\n');
        f.write_all(&buf).map_err(err)?;
        f.sync_data().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let (j, old) = Journal::open(&p).unwrap();
        assert!(old.is_empty());
        j.append(b"{\"a\":1}").unwrap();
        j.append(b"{\"a\":2}").unwrap();
        assert!(j.append(b"x\ny").is_err());
        drop(j);
        // A crash in the middle of a third write.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"a\":").unwrap();
        drop(f);
        let (j, got) = Journal::open(&p).unwrap();
        assert_eq!(got, vec![b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec()]);
        assert_eq!(j.torn(), 5);
        j.append(b"{\"a\":3}").unwrap();
        drop(j);
        let (_, got) = Journal::open(&p).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], b"{\"a\":3}");
    }
}
